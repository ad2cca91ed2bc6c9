// SPDX-License-Identifier: Apache-2.0
// Fills a development server with a little sample data to look at the UI with:
// groups, services, CIs, people, published offerings with forms, portal articles,
// and a few hundred incidents in various states.
//
//   KANRI_URL=http://127.0.0.1:8099 KANRI_ADMIN_PASSWORD=... [KANRI_PUBLISHER=kim:PW] node dev-seed.mjs [COUNT]
//
// Users are not created here (there is no user API): add them with `kanri user add`
// first (the sample uses alice and bob, agents, and eve, an end user of acme).

const base = (process.env.KANRI_URL || 'http://127.0.0.1:8099') + '/api/v1';
const count = Number(process.argv[2] || 300);
let cookie = '', csrf = '';

async function call(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (cookie) headers.Cookie = cookie;
  if (csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const sc = r.headers.get('set-cookie');
  if (sc) cookie = sc.split(';')[0];
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok && r.status !== 409) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return data;
}
const post = (p, b) => call('POST', p, b);
const move = (p, to, extra = {}) => post(p + '/transition', { to, ...extra });

async function main() {
  const login = await post('/session', { name: 'admin', password: process.env.KANRI_ADMIN_PASSWORD });
  csrf = login.csrf;

  const groups = [
    ['desk', 'サービスデスク', 1, 'alice'], ['network', 'ネットワーク', 2, 'alice'],
    ['server', 'サーバ運用', 2, 'bob'], ['db-l3', 'データベース', 3, 'bob'],
  ];
  for (const [name, display_name, tier, manager] of groups)
    await post('/groups', { name, display_name, tier, manager });
  const services = [['mail', 'メール', 'high'], ['vpn', 'リモートアクセス (VPN)', 'high'],
                    ['erp', '基幹システム', 'critical'], ['print', '印刷', 'low']];
  for (const [name, display_name, criticality] of services)
    await post('/services', { name, display_name, criticality, support_group: 'desk' }).catch(e => console.warn(e.message));
  for (const [name, cls, service] of [['mx01', 'server', 'mail'], ['vpn-gw1', 'network', 'vpn'], ['prn-3f', 'other', 'print']])
    await post('/cis', { name, class: cls, service }).catch(e => console.warn(e.message));
  await post('/people', { user: 'eve', display_name: '山田 花子', manager: 'alice', department: '経理部' }).catch(() => {});

  const form = [
    { name: 'device', kind: 'enum', required: true, label: { ja: '機種', en: 'Model' },
      values: [{ value: 'laptop', label: { ja: 'ノートPC', en: 'Laptop' } },
               { value: 'desktop', label: { ja: 'デスクトップPC', en: 'Desktop' } }] },
    { name: 'reason', kind: 'longtext', required: true, max: 500, label: { ja: '理由', en: 'Reason' } },
    { name: 'count', kind: 'integer', min: 1, max: 5, label: { ja: '台数', en: 'Count' } },
    { name: 'needed_by', kind: 'date', label: { ja: '希望日', en: 'Needed by' } },
    { name: 'keyboard_jis', kind: 'boolean', label: { ja: 'JISキーボード', en: 'JIS keyboard' } },
  ];
  const offerings = [
    { name: 'laptop', title: 'PC の貸与', category: 'hardware', form, fulfilment_group: 'desk',
      description: '業務用PCを貸与します。', fulfilment: [{ title: '在庫確認', instructions: '倉庫を確認' }, { title: 'キッティング', instructions: 'イメージ展開' }] },
    { name: 'account', title: 'アカウント作成', category: 'account', approval: 'manager', fulfilment_group: 'desk',
      form: [{ name: 'user_name', kind: 'text', required: true, label: { ja: '利用者名', en: 'User name' } },
             { name: 'for_user', kind: 'user', label: { ja: '対象者', en: 'For user' } }],
      fulfilment: [{ title: 'アカウント作成', instructions: 'AD に作成' }] },
    { name: 'vpn-access', title: 'VPN 利用申請', category: 'access', fulfilment_group: 'network',
      form: [{ name: 'period', kind: 'text', label: { ja: '利用期間', en: 'Period' } }],
      fulfilment: [{ title: '証明書発行', instructions: '' }] },
  ];
  for (const o of offerings) {
    const r = await post('/offerings', o).catch(e => (console.warn(e.message), null));
    if (r && r.number) await move('/offerings/' + o.name, 'published');
  }
  const articles = [
    ['VPNに接続できない場合の対処', '1. インターネットに接続できるか確認します。\n2. VPNクライアントを再起動します。\n3. それでも接続できない場合はサービスデスクへ連絡してください。', 'リモートアクセス 在宅勤務 AnyConnect'],
    ['パスワードを忘れた場合', 'ポータルの「アカウント」からパスワードの再設定を申請してください。', 'パスワード リセット'],
    ['How to add a network printer', 'Open Settings > Printers and choose "Add printer". Pick prn-3f from the list.', 'printer 印刷'],
  ];
  const toPublish = [];
  for (const [title, content, keywords] of articles) {
    const a = await post('/articles', { title, content, keywords, article_type: 'faq', audience: 'portal' });
    await move('/articles/' + a.number, 'in_review');
    toPublish.push(a.number);
  }
  // publishing needs someone other than the last editor: a knowledge manager, e.g.
  // `kanri user add --name kim --role agent,knowledge_manager`, named in KANRI_PUBLISHER=kim:PASSWORD
  if (process.env.KANRI_PUBLISHER) {
    const [name, password] = process.env.KANRI_PUBLISHER.split(':');
    const saved = [cookie, csrf];
    cookie = ''; csrf = '';
    csrf = (await post('/session', { name, password })).csrf;
    for (const n of toPublish) await move('/articles/' + n, 'published').catch(e => console.warn(e.message));
    [cookie, csrf] = saved;
  }

  const titles = ['メールが送信できない', 'VPN が10分ごとに切れる', 'プリンタで紙詰まり', '基幹システムにログインできない',
                  'Outlook crashes on start', 'Wi-Fi is slow on 5F', 'パスワードの有効期限切れ', 'Excel のマクロがエラーになる',
                  '共有フォルダにアクセスできない', 'Laptop battery does not charge'];
  const cats = ['software', 'network', 'hardware', 'access', 'software', 'network', 'access', 'software', 'access', 'hardware'];
  const grp = ['desk', 'network', 'server', 'db-l3', null];
  const who = ['alice', 'bob', null];
  for (let i = 0; i < count; i++) {
    const k = i % titles.length;
    const body = { title: titles[k] + (i >= titles.length ? ` (#${i + 1})` : ''), category: cats[k],
                   description: `${titles[k]} — 詳細 ${i + 1}`, impact: 1 + (i % 3), urgency: 1 + ((i >> 1) % 3),
                   caller: i % 4 === 0 ? 'eve' : null, organisation: i % 4 === 0 ? 'acme' : null,
                   assignment_group: grp[i % grp.length], assignee: grp[i % grp.length] ? who[i % 3] : null };
    const inc = await post('/incidents', body);
    const p = '/incidents/' + inc.number;
    const s = i % 7;
    if (s >= 1) await move(p, 'in_progress');
    if (s === 2) await move(p, 'on_hold', { hold_reason: 'awaiting_caller' });
    if (s >= 3) await move(p, 'resolved', { resolution_code: 'fixed', resolution_notes: '再起動で解決' });
    if (s >= 5) await move(p, 'closed');
    if (i % 5 === 0) await post(p + '/comments', { body: '状況を確認しています', kind: 'comment' });
    if (i % 6 === 0) await post(p + '/comments', { body: 'ベンダーに問い合わせ中', kind: 'work_note' });
    if (i % 50 === 0) process.stdout.write(`${i} `);
  }
  console.log(`\nseeded ${count} incidents`);
}

main().catch(e => { console.error(e.message); process.exit(1); });
