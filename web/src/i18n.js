// SPDX-License-Identifier: Apache-2.0
// The UI's own strings in Japanese and English, the user's language and time zone,
// and date formatting (2026/11/25 14:30 in the user's zone).
// Labels of types, fields, states, transitions and values come from the metadata.

const S = {
  app_name: ['kanri 管理', 'kanri 管理'],
  portal_name: ['kanri サポート', 'kanri Support'],
  skip_to_main: ['本文へ移動', 'Skip to content'],
  loading: ['読み込み中…', 'Loading…'],
  // login
  login_title: ['ログイン', 'Log in'],
  login_name: ['ユーザー名', 'User name'],
  login_password: ['パスワード', 'Password'],
  login_submit: ['ログイン', 'Log in'],
  login_failed: ['ユーザー名またはパスワードが違います', 'Wrong user name or password'],
  login_locked: ['ログインが一時的にロックされています。{s} 秒後にもう一度お試しください', 'Login is locked for a moment. Try again in {s} seconds'],
  logout: ['ログアウト', 'Log out'],
  session_expired: ['セッションが切れました。もう一度ログインしてください', 'Your session has ended. Please log in again'],
  // header
  search: ['検索', 'Search'],
  search_placeholder: ['検索 ( / )', 'Search ( / )'],
  language: ['言語', 'Language'],
  settings: ['設定', 'Settings'],
  time_zone: ['タイムゾーン', 'Time zone'],
  user_menu: ['ユーザーメニュー', 'User menu'],
  signed_in_as: ['ログイン中: {name}', 'Signed in as {name}'],
  shortcuts: ['キーボードショートカット', 'Keyboard shortcuts'],
  to_portal: ['ポータルを開く', 'Open the portal'],
  to_workspace: ['担当者画面を開く', 'Open the agent workspace'],
  main_nav: ['メインメニュー', 'Main menu'],
  // nav
  nav_dashboard: ['ダッシュボード', 'Dashboard'],
  nav_queues: ['キュー', 'Queues'],
  nav_records: ['レコード', 'Records'],
  nav_more: ['その他', 'More'],
  queue_mine: ['自分の担当', 'My work'],
  queue_groups: ['自分のグループ', 'My groups'],
  queue_unassigned: ['未割当', 'Unassigned'],
  queue_groups_note: ['グループの所属情報はまだ API にないため、あなたが管理者 (manager) のグループを表示しています。', 'Group membership is not in the API yet: this shows the groups you manage (manager).'],
  queue_groups_none: ['あなたが管理者のグループはありません。', 'You manage no groups.'],
  // list
  list_of: ['{type} 一覧', '{type}'],
  new_record: ['新規作成', 'New'],
  filters: ['絞り込み', 'Filters'],
  filter_state: ['状態', 'State'],
  filter_any: ['すべて', 'Any'],
  filter_open: ['未完了のみ', 'Open only'],
  filter_text: ['キーワード', 'Keywords'],
  filter_column: ['{field} で絞り込み', 'Filter by {field}'],
  filter_empty: ['（空）', '(empty)'],
  clear_filters: ['条件をクリア', 'Clear filters'],
  columns: ['表示列', 'Columns'],
  columns_reset: ['既定に戻す', 'Reset to default'],
  sort_by: ['{field} で並べ替え', 'Sort by {field}'],
  rows_total: ['全 {total} 件', '{total} in all'],
  rows_range: ['{from}–{to} 件目', '{from}–{to}'],
  page_prev: ['前へ', 'Previous'],
  page_next: ['次へ', 'Next'],
  page_size: ['表示件数', 'Rows per page'],
  no_rows: ['該当するレコードはありません', 'No records match'],
  saved_views: ['保存したビュー', 'Saved views'],
  saved_view_pick: ['ビューを選択…', 'Choose a view…'],
  save_view: ['ビューを保存', 'Save view'],
  delete_view: ['ビューを削除', 'Delete view'],
  view_name: ['ビューの名前', 'View name'],
  view_saved: ['ビュー「{name}」を保存しました', 'Saved the view "{name}"'],
  export_csv: ['CSV 出力', 'Export CSV'],
  export_xlsx: ['Excel 出力', 'Export Excel'],
  unassigned: ['（未割当）', '(unassigned)'],
  queue_type: ['種類', 'Type'],
  // record
  save: ['保存', 'Save'],
  saving: ['保存中…', 'Saving…'],
  saved: ['保存しました', 'Saved'],
  create: ['作成', 'Create'],
  created: ['{number} を作成しました', 'Created {number}'],
  cancel: ['キャンセル', 'Cancel'],
  close: ['閉じる', 'Close'],
  ok: ['OK', 'OK'],
  reason: ['理由', 'Reason'],
  change_reason: ['変更理由（任意）', 'Reason for the change (optional)'],
  required: ['必須', 'required'],
  required_mark: ['（必須）', '(required)'],
  is_required: ['{field} は必須です', '{field} is required'],
  bad_json: ['JSON として正しくありません', 'This is not valid JSON'],
  unsaved: ['保存していない変更があります。移動しますか？', 'You have unsaved changes. Leave this page?'],
  unsaved_badge: ['未保存の変更', 'Unsaved changes'],
  no_changes: ['変更はありません', 'Nothing changed'],
  fields: ['項目', 'Fields'],
  details: ['詳細', 'Details'],
  attachments: ['添付ファイル', 'Attachments'],
  attachments_none: ['添付ファイルはありません', 'No attachments'],
  attach_file: ['ファイルを添付', 'Attach a file'],
  attach_submit: ['添付', 'Attach'],
  attached: ['「{name}」を添付しました', 'Attached "{name}"'],
  attach_too_big: ['「{name}」は大きすぎるため添付できません', '"{name}" is too large to attach'],
  attach_refused: ['「{name}」は添付できません: {why}', '"{name}" cannot be attached: {why}'],
  actions: ['操作', 'Actions'],
  transitions: ['次の操作', 'Next steps'],
  transition_to: ['{label} → {state}', '{label} → {state}'],
  transition_needs: ['この操作には次の項目が必要です', 'This step needs the following'],
  transition_done: ['{label} を実行しました', '{label}: done'],
  not_found: ['見つかりません', 'Not found'],
  not_found_detail: ['このレコードは存在しないか、閲覧する権限がありません。', 'This record does not exist, or you may not see it.'],
  forbidden: ['権限がありません', 'Not allowed'],
  error: ['エラー', 'Error'],
  network_error: ['サーバに接続できません', 'Cannot reach the server'],
  open_record: ['開く', 'Open'],
  open_ref: ['{value} を開く', 'Open {value}'],
  readonly: ['読み取り専用', 'read-only'],
  version: ['版 {v}', 'version {v}'],
  yes: ['はい', 'Yes'],
  no: ['いいえ', 'No'],
  none: ['—', '—'],
  choose: ['選択してください', 'Choose…'],
  // conflict
  conflict_title: ['他の人が先に保存しました', 'Someone else saved first'],
  conflict_body: ['{who} が {when} にこのレコードを更新しました（版 {v}）。あなたの入力は失われていません。', '{who} updated this record at {when} (version {v}). Nothing you typed is lost.'],
  conflict_field: ['項目', 'Field'],
  conflict_theirs: ['現在の値（相手）', 'Current value (theirs)'],
  conflict_yours: ['あなたの入力', 'Your value'],
  conflict_mine_only: ['あなたが変更した項目', 'Fields you changed'],
  conflict_reapply: ['最新を読み込み、自分の変更を再適用', 'Reload and reapply my changes'],
  conflict_overwrite: ['自分の変更で上書き保存', 'Overwrite with my changes'],
  conflict_discard: ['自分の変更を破棄', 'Discard my changes'],
  conflict_reapplied: ['最新の版に自分の変更を再適用しました。確認して保存してください。', 'Your changes are reapplied on the latest version: check them and save.'],
  // timeline
  timeline: ['タイムライン', 'Timeline'],
  tl_created: ['作成しました', 'created'],
  tl_updated: ['更新しました', 'updated'],
  tl_moved: ['状態を変更しました', 'changed the state'],
  tl_commented: ['コメント', 'comment'],
  tl_work_note: ['作業メモ', 'work note'],
  tl_related: ['関連付けました', 'related'],
  tl_unrelated: ['関連を解除しました', 'removed a relation'],
  tl_action: ['{action}', '{action}'],
  tl_empty: ['まだ履歴はありません', 'No history yet'],
  tl_system: ['システム', 'system'],
  comment_box: ['コメントを書く', 'Write a comment'],
  comment_kind: ['種類', 'Kind'],
  kind_comment: ['コメント（公開）', 'Comment (public)'],
  kind_work_note: ['作業メモ（担当者のみ）', 'Work note (agents only)'],
  comment_submit: ['投稿', 'Post'],
  comment_posted: ['投稿しました', 'Posted'],
  reply: ['返信', 'Reply'],
  reply_box: ['返信を書く', 'Write a reply'],
  // relations
  relations: ['関連レコード', 'Related records'],
  relation_kind: ['関係', 'Relation'],
  relation_target: ['対象（例: incidents/INC-000002）', 'Target (e.g. incidents/INC-000002)'],
  relation_add: ['関連を追加', 'Add relation'],
  relation_remove: ['関連を解除', 'Remove relation'],
  relations_none: ['関連レコードはありません', 'No related records'],
  rel_relates_to: ['関連', 'relates to'],
  rel_caused_by: ['原因', 'caused by'],
  rel_duplicate_of: ['重複', 'duplicate of'],
  rel_parent_of: ['親', 'parent of'],
  rel_child_of: ['子', 'child of'],
  rel_blocks: ['ブロック', 'blocks'],
  // search
  search_results: ['「{q}」の検索結果', 'Results for "{q}"'],
  search_none: ['見つかりませんでした', 'Nothing found'],
  search_all_types: ['すべての種類', 'All types'],
  search_hint: ['キーワードを入力してください', 'Type some words'],
  // dashboard
  dash_title: ['ダッシュボード', 'Dashboard'],
  dash_by_state: ['状態別（未完了）', 'Open by state'],
  dash_by_priority: ['優先度別（未完了）', 'Open by priority'],
  dash_by_group: ['担当グループ別（未完了）', 'Open by group'],
  dash_created_resolved: ['作成と解決（過去30日）', 'Created vs resolved (last 30 days)'],
  dash_created: ['作成', 'Created'],
  dash_resolved: ['解決', 'Resolved'],
  dash_open_total: ['未完了のインシデント', 'Open incidents'],
  dash_as_table: ['表で見る', 'Show as a table'],
  dash_count: ['件数', 'Count'],
  dash_day: ['日付', 'Day'],
  priority_n: ['P{n}', 'P{n}'],
  // SLA clocks on tickets (list cells and record pages)
  clock_breached: ['違反', 'Breached'],
  clock_paused: ['一時停止', 'Paused'],
  clock_met: ['達成', 'Met'],
  clock_cancelled: ['取消', 'Cancelled'],
  clock_left: ['残り {d}', '{d} left'],
  clock_over: ['{d} 超過', '{d} over'],
  clock_left_paused: ['再開後の残り {d}', '{d} left when resumed'],
  dur_d: ['{n}日', '{n}d'],
  dur_h: ['{n}時間', '{n}h'],
  dur_m: ['{n}分', '{n}m'],
  dur_sep: ['', ' '],
  dur_lt_minute: ['1分未満', 'under 1m'],
  // SLA report
  nav_sla_report: ['SLA レポート', 'SLA report'],
  sla_title: ['SLA レポート', 'SLA report'],
  sla_agreement: ['合意', 'Agreement'],
  sla_choose: ['合意を選択…', 'Choose an agreement…'],
  sla_none_defined: ['有効または草案の合意がありません。', 'There are no active or draft agreements.'],
  sla_pick_hint: ['レポートを表示する合意を選んでください。', 'Choose the agreement to report on.'],
  sla_active: ['有効', 'Active'],
  sla_drafts: ['草案', 'Drafts'],
  sla_period: ['期間', 'Period'],
  sla_range: ['期間を指定…', 'Custom range…'],
  sla_from: ['開始日', 'From'],
  sla_to: ['終了日（この日を含む）', 'To (inclusive)'],
  sla_bad_range: ['開始日と終了日を正しく指定してください', 'Give a valid start and end date'],
  sla_period_is: ['{from} – {to}', '{from} – {to}'],
  sla_as_of: ['{when} 時点', 'as of {when}'],
  sla_csv: ['CSV 出力', 'Download CSV'],
  sla_xlsx: ['Excel 出力', 'Download Excel'],
  sla_service: ['サービス', 'Service'],
  sla_customer: ['顧客', 'Customer'],
  sla_calendar: ['営業カレンダー', 'Business calendar'],
  sla_around_clock: ['24 時間 365 日', 'Around the clock'],
  sla_all: ['すべて', 'All'],
  sla_valid: ['有効期間', 'Valid'],
  sla_targets: ['目標の達成状況', 'Targets'],
  sla_type: ['種類', 'Type'],
  sla_clock: ['計測', 'Clock'],
  sla_priority: ['優先度', 'Priority'],
  sla_any_priority: ['すべて', 'Any'],
  sla_target: ['目標時間', 'Target'],
  sla_goal: ['目標達成率', 'Goal'],
  sla_tickets: ['件数', 'Tickets'],
  sla_met: ['達成', 'Met'],
  sla_breached: ['違反', 'Breached'],
  sla_achievement: ['達成率', 'Achievement'],
  sla_result: ['判定', 'Result'],
  sla_goal_met: ['目標達成', 'Goal met'],
  sla_goal_missed: ['目標未達', 'Goal missed'],
  sla_no_goal: ['目標なし', 'No goal'],
  sla_no_tickets: ['対象なし', 'No tickets'],
  sla_no_targets: ['この合意には目標がありません', 'This agreement has no targets'],
  sla_trend: ['達成率の推移', 'Achievement by month'],
  sla_month: ['月', 'Month'],
  sla_breaches: ['違反したチケット', 'Breaches'],
  sla_no_breaches: ['この期間の違反はありません', 'No breaches in this period'],
  sla_number: ['番号', 'Number'],
  sla_ticket_title: ['件名', 'Title'],
  sla_breached_at: ['違反日時', 'Breached at'],
  sla_state: ['状態', 'State'],
  sla_group: ['担当グループ', 'Group'],
  sla_reason: ['違反の理由', 'Reason'],
  sla_clock_state: ['現在の計測', 'Clock now'],
  sla_breaches_capped: ['最初の {n} 件を表示しています', 'Showing the first {n}'],
  sla_workload: ['作業量と上限', 'Workload against limits'],
  sla_no_workload: ['作業量の上限はありません', 'No workload limits'],
  sla_per_month: ['月', 'month'],
  sla_per_week: ['週', 'week'],
  sla_per_day: ['日', 'day'],
  sla_limit: ['上限', 'Limit'],
  sla_periods_exceeded: ['超過した期間', 'Periods over the limit'],
  sla_over_limit: ['上限超過', 'Over the limit'],
  sla_within_limit: ['上限内', 'Within the limit'],
  sla_availability: ['可用性', 'Availability'],
  sla_no_availability: ['可用性の目標はありません', 'No availability target'],
  sla_av_target: ['目標', 'Target'],
  sla_av_actual: ['実績', 'Actual'],
  sla_av_agreed: ['サービス時間', 'Agreed service time'],
  sla_av_downtime: ['停止時間', 'Downtime'],
  sla_av_outages: ['停止回数', 'Outages'],
  sla_fit: ['OLA・UC との整合', 'Fit of the OLAs and contracts'],
  sla_fit_intro: ['支える OLA・UC の目標が SLA の目標の内に収まるかを、{days} 日間を {step} 分刻みで確認しました。', 'Checked whether the targets of the supporting OLAs and contracts fall within the SLA\'s, over {days} days in steps of {step} minutes.'],
  sla_fits: ['整合', 'Fits'],
  sla_not_fits: ['不整合', 'Does not fit'],
  sla_no_supporting: ['この SLA を支える OLA・UC はありません', 'No OLAs or contracts support this agreement'],
  sla_supplier_target: ['OLA・UC の目標', 'Their target'],
  sla_sla_target: ['SLA の目標', 'SLA target'],
  sla_worst: ['最悪の場合', 'Worst case'],
  sla_worst_text: ['{start} に受け付けると SLA 期限 {sla_due}、相手の期限 {supplier_due}（{over} 超過）', 'received {start}: SLA due {sla_due}, theirs {supplier_due} ({over} over)'],
  sla_satisfaction: ['顧客満足度', 'Customer satisfaction'],
  sla_no_satisfaction: ['この期間の回答はありません', 'No answers in this period'],
  sla_sent: ['送付', 'Sent'],
  sla_answered: ['回答', 'Answered'],
  sla_response_rate: ['回答率', 'Response rate'],
  sla_mean_rating: ['平均評価', 'Mean rating'],
  sla_ratings: ['評価の分布（1〜5）', 'Ratings (1–5)'],
  sla_not_loaded: ['読み込めませんでした: {why}', 'Could not load: {why}'],
  clock_response: ['応答', 'Response'],
  clock_resolution: ['解決', 'Resolution'],
  clock_request_resolution: ['提供', 'Fulfilment'],
  // keyboard help
  kb_search: ['検索へ移動', 'Focus search'],
  kb_incidents: ['インシデント一覧へ', 'Go to incidents'],
  kb_dashboard: ['ダッシュボードへ', 'Go to the dashboard'],
  kb_mine: ['自分の担当へ', 'Go to my work'],
  kb_requests: ['サービス要求一覧へ', 'Go to requests'],
  kb_new: ['新規作成（一覧で）', 'New record (on a list)'],
  kb_rows: ['行を移動 / 開く', 'Move through rows / open'],
  kb_esc: ['ダイアログを閉じる', 'Close dialogs'],
  kb_help: ['このヘルプ', 'This help'],
  kb_save: ['保存（レコード画面）', 'Save (record page)'],
  // portal
  portal_home: ['ホーム', 'Home'],
  portal_welcome: ['お困りのことはありますか？', 'How can we help?'],
  portal_kb_search: ['ナレッジを検索', 'Search the knowledge base'],
  portal_kb_placeholder: ['例: VPN 接続できない', 'e.g. VPN cannot connect'],
  portal_catalog: ['サービスカタログ', 'Request catalogue'],
  portal_catalog_intro: ['必要なものを選んで申請してください。', 'Choose what you need and ask for it.'],
  portal_services: ['提供中のサービス', 'Our services'],
  portal_report: ['問題を報告', 'Report a problem'],
  portal_report_intro: ['困っていることを教えてください。入力中に関連するナレッジを表示します。', 'Tell us what is wrong. Matching articles appear while you type.'],
  portal_tickets: ['マイチケット', 'My tickets'],
  portal_approvals: ['承認待ち', 'Approvals'],
  portal_kb: ['ナレッジ', 'Knowledge'],
  portal_request_submit: ['申請する', 'Submit request'],
  portal_report_submit: ['報告する', 'Submit'],
  portal_submitted: ['{number} を受け付けました', 'We received {number}'],
  portal_what: ['件名（何が起きていますか）', 'Title (what is wrong?)'],
  portal_details: ['詳しい状況', 'Details'],
  portal_impact: ['影響の範囲', 'Who is affected?'],
  portal_urgency: ['緊急度', 'How urgent is it?'],
  impact_1: ['部署・会社全体', 'A department or the whole company'],
  impact_2: ['複数の人', 'Several people'],
  impact_3: ['自分だけ', 'Only me'],
  urgency_1: ['業務が止まっている', 'I cannot work'],
  urgency_2: ['業務に支障がある', 'My work is hampered'],
  urgency_3: ['急ぎではない', 'Not urgent'],
  portal_suggestions: ['この記事で解決するかもしれません', 'These articles may help'],
  portal_no_tickets: ['チケットはありません', 'You have no tickets'],
  portal_show_org: ['組織のチケットも表示', "Show my organisation's tickets"],
  portal_tasks: ['作業の進み具合', 'Progress'],
  portal_answers: ['申請内容', 'Your answers'],
  portal_resolved_ask: ['解決しましたか？', 'Is it solved?'],
  portal_confirm: ['解決を確認して完了', 'Yes, confirm and close'],
  portal_reject: ['解決していない（再オープン）', 'No, reopen it'],
  portal_fulfilled_ask: ['申請は完了しました。問題がなければ完了にしてください。', 'Your request is fulfilled. Close it if all is well.'],
  portal_close_request: ['完了にする', 'Close the request'],
  portal_reopen_request: ['再オープン', 'Reopen'],
  portal_approve: ['承認', 'Approve'],
  portal_reject_approval: ['却下', 'Reject'],
  portal_no_approvals: ['承認待ちはありません', 'Nothing waits for your approval'],
  portal_helpful: ['この記事は役に立ちましたか？', 'Was this article helpful?'],
  portal_thanks: ['ご意見ありがとうございました', 'Thank you for your feedback'],
  portal_kb_none: ['記事が見つかりませんでした', 'No articles found'],
  portal_for_offering: ['申請: {title}', 'Request: {title}'],
  portal_requested_for: ['対象者（自分以外のとき）', 'Requested for (if not you)'],
  portal_updated: ['更新 {when}', 'updated {when}'],
  portal_since: ['{when} に受付', 'received {when}'],
  survey_title: ['対応はいかがでしたか？', 'How did we do?'],
  survey_intro: ['今回の対応を5段階で評価してください。', 'Please rate how this ticket was handled.'],
  survey_rating: ['評価', 'Rating'],
  survey_rating_n: ['評価 {n}', 'Rating {n}'],
  survey_poor: ['不満', 'Poor'],
  survey_excellent: ['満足', 'Excellent'],
  survey_comment: ['コメント（任意）', 'Comment (optional)'],
  survey_send: ['送信', 'Send'],
  survey_thanks: ['ご回答ありがとうございました', 'Thank you for your answer'],
  type_incident_short: ['問題報告', 'Problem report'],
  type_request_short: ['申請', 'Request'],
};

const LANG_KEY = 'kanri.lang', TZ_KEY = 'kanri.tz';
export const DEFAULT_TZ = 'Asia/Tokyo';

function detectLang() {
  try {
    const s = localStorage.getItem(LANG_KEY);
    if (s === 'ja' || s === 'en') return s;
  } catch { /* storage off */ }
  return (navigator.language || '').toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

let lang = detectLang();
let tz = (() => { try { return localStorage.getItem(TZ_KEY) || DEFAULT_TZ; } catch { return DEFAULT_TZ; } })();
if (!validZone(tz)) tz = DEFAULT_TZ;
const listeners = [];

export const getLang = () => lang;
export const getTz = () => tz;
export const hasOwnTz = () => { try { return !!localStorage.getItem(TZ_KEY); } catch { return false; } };
export const hasOwnLang = () => { try { return !!localStorage.getItem(LANG_KEY); } catch { return false; } };
export function onLocaleChange(fn) { listeners.push(fn); }

// setLang(l, persist, notify): persist keeps it in localStorage (a cache, so that the
// log-in page has a language); notify re-renders when it changed.
export function setLang(l, persist = true, notify = true) {
  if (l !== 'ja' && l !== 'en') return;
  const changed = l !== lang;
  lang = l;
  if (persist) try { localStorage.setItem(LANG_KEY, l); } catch { /* ignore */ }
  document.documentElement.lang = l;
  fmtCache.clear();
  if (changed && notify) listeners.forEach(f => f());
}

// The browser's own language (when the user has chosen none on the server).
export const browserLang = () => ((navigator.language || '').toLowerCase().startsWith('ja') ? 'ja' : 'en');

export function validZone(z) {
  try { new Intl.DateTimeFormat('en', { timeZone: z }); return true; } catch { return false; }
}

export function setTz(z, persist = true, notify = true) {
  if (!validZone(z)) return;
  const changed = z !== tz;
  tz = z;
  if (persist) try { localStorage.setItem(TZ_KEY, z); } catch { /* ignore */ }
  fmtCache.clear();
  if (changed && notify) listeners.forEach(f => f());
}

export function zones() {
  const common = ['Asia/Tokyo', 'UTC', 'Asia/Seoul', 'Asia/Shanghai', 'Asia/Taipei', 'Asia/Singapore',
    'Asia/Bangkok', 'Asia/Kolkata', 'Europe/London', 'Europe/Paris', 'Europe/Berlin',
    'America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Australia/Sydney', 'Pacific/Auckland'];
  let all = [];
  try { all = Intl.supportedValuesOf('timeZone'); } catch { /* older browsers */ }
  const set = new Set(common);
  if (!set.has(tz)) common.push(tz);
  return common.concat(all.filter(z => !set.has(z) && z !== tz));
}

// t('rows_total', {total: 5})
export function t(key, params) {
  const e = S[key];
  let s = e ? e[lang === 'ja' ? 0 : 1] : key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] ?? m));
  return s;
}

// A metadata label {"ja","en"} (or a plain string) in the current language.
export function L(label, fallback = '') {
  if (!label) return fallback;
  if (typeof label === 'string') return label;
  return label[lang] || label.en || label.ja || fallback;
}

// ---- dates and times ----------------------------------------------------------

const fmtCache = new Map();
function partsFmt(zone) {
  const k = 'p|' + zone;
  if (!fmtCache.has(k)) fmtCache.set(k, new Intl.DateTimeFormat('en-US', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }));
  return fmtCache.get(k);
}

// The wall-clock parts of an instant (ms) in a zone.
export function zoneParts(ms, zone = tz) {
  const o = {};
  for (const p of partsFmt(zone).formatToParts(new Date(ms))) if (p.type !== 'literal') o[p.type] = p.value;
  if (o.hour === '24') o.hour = '00';
  return o;
}

// Offset of the zone from UTC at an instant, in ms.
function zoneOffset(ms, zone) {
  const p = zoneParts(ms, zone);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

const pad = n => String(n).padStart(2, '0');

// "2026-11-25T05:30:00.123Z" -> "2026/11/25 14:30" (user's zone)
export function fmtDateTime(iso, withSeconds = false) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (isNaN(ms)) return String(iso);
  const p = zoneParts(ms);
  return `${p.year}/${p.month}/${p.day} ${p.hour}:${p.minute}${withSeconds ? ':' + p.second : ''}`;
}

// "2026-12-01" -> "2026/12/01" (a date has no zone)
export function fmtDate(d) {
  if (!d) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(d);
  return m ? `${m[1]}/${m[2]}/${m[3]}` : String(d);
}

// ISO instant -> "YYYY-MM-DDTHH:MM" for <input type=datetime-local> in the user's zone
export function isoToLocalInput(iso) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (isNaN(ms)) return '';
  const p = zoneParts(ms);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// "YYYY-MM-DDTHH:MM" wall time in the user's zone -> ISO 8601 with the zone's offset
export function localInputToIso(v, zone = tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v || '');
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  let off = zoneOffset(wall, zone);
  const off2 = zoneOffset(wall - off, zone);
  if (off2 !== off) off = off2; // across a DST change
  const mins = Math.round(off / 60000), sign = mins < 0 ? '-' : '+', a = Math.abs(mins);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] || '00'}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// The calendar date (YYYY-MM-DD) of an instant in a zone.
export function dayIn(ms, zone = tz) {
  const p = zoneParts(ms, zone);
  return `${p.year}-${p.month}-${p.day}`;
}

// "3 minutes ago" style relative time, for timelines.
export function relTime(iso) {
  const ms = Date.parse(iso);
  if (isNaN(ms)) return '';
  const s = (ms - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const a = Math.abs(s);
  if (a < 60) return rtf.format(Math.round(s), 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  if (a < 86400 * 30) return rtf.format(Math.round(s / 86400), 'day');
  return fmtDateTime(iso);
}

export function fmtNumber(n) {
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-US').format(n);
}

// 12345 seconds -> "3h 25m" / "3時間25分" (days, hours and minutes; the two largest)
export function fmtDuration(sec) {
  if (sec === null || sec === undefined || isNaN(sec)) return '';
  sec = Math.abs(Math.round(Number(sec)));
  if (sec < 60) return t('dur_lt_minute');
  const d = Math.floor(sec / 86400), hr = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
  const parts = [];
  if (d) parts.push(t('dur_d', { n: d }));
  if (hr) parts.push(t('dur_h', { n: hr }));
  if (m && !d) parts.push(t('dur_m', { n: m }));
  return parts.slice(0, 2).join(t('dur_sep'));
}

// 94.987 -> "94.9%": rounded down, so that a missed goal never looks met
export function fmtPct(v, digits = 1) {
  if (v === null || v === undefined || isNaN(v)) return '';
  const f = 10 ** digits;
  const n = Math.floor(Number(v) * f + 1e-9) / f;
  return new Intl.NumberFormat(lang === 'ja' ? 'ja-JP' : 'en-US', { maximumFractionDigits: digits }).format(n) + '%';
}
