/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the kanri command line: `kanri COMMAND [options]`.
 *
 * One table of commands (some of two words: `user add`), each with its own
 * getopt_long options and usage text. Errors go to stderr as
 * "kanri: COMMAND: message"; a usage error exits 2, a failure 1. Writes made
 * from the command line are journalled as the user "system" (import: the
 * user given with --as, admin by default).
 */
#include "kanri.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <termios.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/copy.h"
#include "core/jobs.h"
#include "core/record.h"
#include "http/http.h"
#include "proc/sla.h"

#define ACTOR "system"
#define DEFAULT_LISTEN "127.0.0.1:8080"

typedef struct command {
	const char *name; /* "init", "user add" */
	int (*run)(const struct command *cmd, int argc, char **argv);
	const char *args;    /* one-line synopsis after the name */
	const char *summary; /* one line for `kanri --help` */
	const char *help;    /* the options, for `kanri COMMAND --help` */
} command;

/* ---- messages ------------------------------------------------------------ */

static void errorf(const command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void errorf(const command *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "kanri: ");
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage_line(const command *cmd, FILE *f)
{
	fprintf(f, "usage: kanri %s %s\n", cmd->name, cmd->args);
}

/* A usage error: message, synopsis, exit status 2. */
static int usage_error(const command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const command *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	errorf(cmd, "%s", msg);
	usage_line(cmd, stderr);
	fprintf(stderr, "try 'kanri %s --help'\n", cmd->name);
	return 2;
}

static int engine_error(const command *cmd, const kn_error *err)
{
	if (err->field[0] && !strstr(err->detail, err->field))
		errorf(cmd, "%s: %s", err->field, err->detail);
	else
		errorf(cmd, "%s", err->detail[0] ? err->detail : kn_err_title(err->code));
	return 1;
}

static void print_help(const command *cmd)
{
	usage_line(cmd, stdout);
	printf("\n%s\n\n%s", cmd->summary, cmd->help);
}

/*
 * getopt_long for one command, with kanri's error messages. Returns the
 * option, -1 at the end, or a negative exit status: -2 usage error (already
 * reported), -100 when --help was given (help printed).
 */
static int next_opt(const command *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *longopts)
{
	opterr = 0;
	int c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == 'h') {
		print_help(cmd);
		return -100;
	}
	if (c == ':') {
		usage_error(cmd, "option %s needs a value", argv[optind - 1]);
		return -2;
	}
	if (c == '?') {
		if (optopt)
			usage_error(cmd, "unknown option '-%c'", optopt);
		else
			usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		return -2;
	}
	return c;
}

/* Exit status for next_opt's negative results. */
static int opt_exit(int c) { return c == -100 ? 0 : 2; }

static bool parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int open_engine(const command *cmd, const char *data, kn_engine **e)
{
	kn_error err = {0};
	if (kn_engine_open(data, e, &err))
		return engine_error(cmd, &err);
	return 0;
}

/* ---- passwords ------------------------------------------------------------ */

/* One line from stdin, echo off when it is a terminal. Caller frees. */
static char *read_secret(const char *prompt)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	return line;
}

/* The new user's password: $KANRI_PASSWORD, else asked (twice on a terminal). */
static char *new_password(const command *cmd, const char *name)
{
	const char *env = getenv("KANRI_PASSWORD");
	if (env)
		return kn_xstrdup(env);
	char *prompt = kn_xasprintf("password for %s: ", name);
	char *pw = read_secret(prompt);
	free(prompt);
	if (pw && *pw && isatty(STDIN_FILENO)) {
		char *again = read_secret("again: ");
		bool same = again && strcmp(pw, again) == 0;
		if (again) {
			memset(again, 0, strlen(again));
			free(again);
		}
		if (!same) {
			errorf(cmd, "the passwords do not match");
			memset(pw, 0, strlen(pw));
			free(pw);
			return NULL;
		}
	}
	if (!pw || !*pw) {
		errorf(cmd, "an empty password is refused (set KANRI_PASSWORD or type one)");
		free(pw);
		return NULL;
	}
	return pw;
}

/* ---- commands ------------------------------------------------------------ */

/* One option of a command: --NAME VALUE into *val, or the flag --NAME
 * into *flag. required: the value's name in "--NAME VALUE is required",
 * or NULL when the option may be left out. */
typedef struct opt {
	const char *name;
	const char **val;
	bool *flag;
	const char *required;
} opt;

/* Parse argv into the n options of o, allowing at most max_args
 * arguments besides them (left at argv[optind...]). Returns -1 when all
 * is well, else the exit status to return (help printed, or a usage error
 * reported). */
static int parse_opts(const command *cmd, int argc, char **argv, const opt *o, size_t n,
		      int max_args)
{
	struct option lo[16];
	if (n > 14)
		n = 14;
	for (size_t i = 0; i < n; i++)
		lo[i] = (struct option){o[i].name, o[i].val ? required_argument : no_argument, NULL,
					256 + (int)i};
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){0};
	int c;
	while ((c = next_opt(cmd, argc, argv, ":h", lo)) != -1) {
		if (c < 0)
			return opt_exit(c);
		const opt *x = &o[c - 256];
		if (x->val)
			*x->val = optarg;
		else
			*x->flag = true;
	}
	if (argc - optind > max_args)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind + max_args]);
	for (size_t i = 0; i < n; i++)
		if (o[i].required && !*o[i].val)
			return usage_error(cmd, "--%s %s is required", o[i].name, o[i].required);
	return -1;
}

#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

/* Options of a command that takes only --data DIR. */
static int data_only(const command *cmd, int argc, char **argv, const char **data)
{
	const opt o[] = {{"data", data, NULL, "DIR"}};
	return parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
}

static int cmd_init(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *store = NULL;
	bool join = false;
	const opt o[] = {{"data", &data, NULL, "DIR"}, {"store", &store, NULL, NULL},
			 {"join", NULL, &join, NULL}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
	if (rc0 >= 0)
		return rc0;
	if (join && !store)
		return usage_error(cmd, "--join needs --store (the shared database)");

	kn_error err = {0}; /* the engine refuses a folder that holds anything */
	const char *given = getenv("KANRI_ADMIN_PASSWORD");
	if (!join && given && *given && kn_password_check(given, &err))
		return engine_error(cmd, &err);
	if (kn_engine_create(data, store, join, NULL, &err))
		return engine_error(cmd, &err);
	if (join) {
		printf("created %s, a node of the installation in the given database\n"
		       "\nstart it:\n  kanri serve --data %s\n", data, data);
		return 0;
	}
	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	const char *env = getenv("KANRI_ADMIN_PASSWORD");
	char *pw = env && *env ? kn_xstrdup(env) : kn_random_token(12);
	int rc = kn_user_add(e, ACTOR, "admin", "admin", NULL, pw, &err);
	if (!rc)
		rc = kn_sla_seed(e, &err);
	kn_engine_close(e);
	if (rc) {
		free(pw);
		return engine_error(cmd, &err);
	}
	printf("created %s\n", data);
	if (env && *env)
		printf("admin password: as given in KANRI_ADMIN_PASSWORD\n");
	else
		printf("admin password: %s\n(shown only this once)\n", pw);
	printf("\nstart the server:\n  kanri serve --data %s\n"
	       "log in:\n  curl -i -H 'Content-Type: application/json' "
	       "-d '{\"name\":\"admin\",\"password\":\"%s\"}' "
	       "http://" DEFAULT_LISTEN "/api/v1/session\n"
	       "or create an API token:\n  kanri token create --data %s --user admin\n",
	       data, env && *env ? "..." : pw, data);
	memset(pw, 0, strlen(pw));
	free(pw);
	return 0;
}

static int cmd_serve(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *listen = NULL, *threads = NULL;
	kn_http_opts o = {0};
	const opt opts[] = {{"data", &data, NULL, "DIR"},
			    {"listen", &listen, NULL, NULL},
			    {"threads", &threads, NULL, NULL},
			    {"access-log", NULL, &o.access_log, NULL}};
	int rc0 = parse_opts(cmd, argc, argv, opts, NOPTS(opts), 0);
	if (rc0 >= 0)
		return rc0;
	long n;
	if (threads) {
		if (!parse_int(threads, 1, 1024, &n))
			return usage_error(cmd, "--threads must be from 1 to 1024");
		o.threads = (int)n;
	}

	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	if (!listen)
		listen = json_string_value(json_object_get(e->config, "listen"));
	if (!listen)
		listen = DEFAULT_LISTEN;
	kn_error err = {0};
	int rc = kn_engine_writer_start(e, &err);
	if (!rc)
		rc = kn_jobs_start(e, &err);
	if (!rc)
		rc = kn_http_serve(e, listen, &o, &err);
	kn_engine_close(e);
	return rc ? engine_error(cmd, &err) : 0;
}

static int cmd_user_add(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *name = NULL, *role = NULL, *org = NULL;
	const opt o[] = {{"data", &data, NULL, "DIR"},
			 {"name", &name, NULL, "NAME"},
			 {"role", &role, NULL, "ROLE"},
			 {"org", &org, NULL, NULL}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
	if (rc0 >= 0)
		return rc0;
	if (!kn_role_user_ok(kn_role_parse(role)))
		return usage_error(cmd, "--role must be one of admin, agent, enduser, auditor, "
					"optionally followed by process roles: --role agent,security");

	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	char *pw = new_password(cmd, name);
	if (!pw) {
		kn_engine_close(e);
		return 1;
	}
	kn_error err = {0};
	int rc = kn_user_add(e, ACTOR, name, role, org, pw, &err);
	memset(pw, 0, strlen(pw));
	free(pw);
	kn_engine_close(e);
	if (rc)
		return engine_error(cmd, &err);
	printf("added %s %s%s%s\n", role, name, org ? " of " : "", org ? org : "");
	return 0;
}

static int cmd_token_create(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *user = NULL, *label = NULL;
	const opt o[] = {{"data", &data, NULL, "DIR"},
			 {"user", &user, NULL, "NAME"},
			 {"label", &label, NULL, NULL}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
	if (rc0 >= 0)
		return rc0;

	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	kn_error err = {0};
	char *tok = NULL;
	int rc = kn_token_create(e, ACTOR, user, label, &tok, &err);
	kn_engine_close(e);
	if (rc)
		return engine_error(cmd, &err);
	printf("API token for %s (shown only this once; send it as\n"
	       "'Authorization: Bearer TOKEN'):\n%s\n",
	       user, tok);
	free(tok);
	return 0;
}

static int cmd_audit_verify(const command *cmd, int argc, char **argv)
{
	const char *data = NULL;
	int rc0 = data_only(cmd, argc, argv, &data);
	if (rc0 >= 0)
		return rc0;

	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	kn_error err = {0};
	int rc = kn_audit_verify(e, stdout, &err);
	fflush(stdout);
	kn_engine_close(e);
	return rc ? engine_error(cmd, &err) : 0;
}

static void print_stats(const char *what, const kn_copy_stats *s)
{
	printf("%s: %lld records, %lld comments, %lld relations, %lld journal entries,"
	       " %lld users\n",
	       what, (long long)s->records, (long long)s->comments, (long long)s->relations,
	       (long long)s->journal, (long long)s->users);
}

static int cmd_backup(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *out = NULL;
	const opt o[] = {{"data", &data, NULL, "DIR"}, {"out", &out, NULL, "FILE"}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
	if (rc0 >= 0)
		return rc0;
	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	kn_error err = {0};
	kn_copy_stats st = {0};
	int rc = kn_backup(e, out, &st, stdout, &err);
	kn_engine_close(e);
	if (rc)
		return engine_error(cmd, &err);
	printf("backup written to %s\n", out);
	return 0;
}

static int cmd_restore(const command *cmd, int argc, char **argv)
{
	const char *from = NULL, *data = NULL, *store = NULL;
	const opt o[] = {{"from", &from, NULL, "FILE"},
			 {"data", &data, NULL, "DIR"},
			 {"store", &store, NULL, NULL}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
	if (rc0 >= 0)
		return rc0;
	kn_error err = {0};
	kn_copy_stats st = {0};
	if (kn_restore(from, data, store, &st, stdout, &err))
		return engine_error(cmd, &err);
	print_stats("restored", &st);
	printf("start it:\n  kanri serve --data %s\n", data);
	return 0;
}

static int cmd_migrate_store(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *to = NULL;
	const opt o[] = {{"data", &data, NULL, "DIR"}, {"to", &to, NULL, "DSN"}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 0);
	if (rc0 >= 0)
		return rc0;
	kn_error err = {0};
	kn_copy_stats st = {0};
	if (kn_migrate_store(data, to, &st, stdout, &err))
		return engine_error(cmd, &err);
	print_stats("copied", &st);
	printf("%s/config.json now names the new store (the config it replaced is kept as"
	       " config.json.before-migrate; the old database is unchanged)\n",
	       data);
	return 0;
}

static int cmd_import(const command *cmd, int argc, char **argv)
{
	const char *data = NULL, *type = NULL, *as = "admin", *batch_s = NULL;
	const opt o[] = {{"data", &data, NULL, "DIR"},
			 {"type", &type, NULL, "PLURAL"},
			 {"as", &as, NULL, NULL},
			 {"batch", &batch_s, NULL, NULL}};
	int rc0 = parse_opts(cmd, argc, argv, o, NOPTS(o), 1);
	if (rc0 >= 0)
		return rc0;
	long batch = 10000;
	if (batch_s && !parse_int(batch_s, 1, INT_MAX, &batch))
		return usage_error(cmd, "--batch must be a positive number");
	const char *file = optind < argc ? argv[optind] : "-";

	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	int rc = 1;
	FILE *in = NULL;
	kn_error err = {0};
	const kn_type *t = kn_schema_type_plural(e->schema, type);
	if (!t)
		t = kn_schema_type(e->schema, type);
	if (!t) {
		errorf(cmd, "no record type '%s'", type);
		goto out;
	}
	kn_user u = {0};
	int r = e->store->ops->user_get(e->store, as, 0, &u, &err);
	if (r == KN_ENOTFOUND) {
		errorf(cmd, "no user named %s", as);
		goto out;
	}
	if (r) {
		engine_error(cmd, &err);
		goto out;
	}
	in = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!in) {
		errorf(cmd, "cannot open %s: %s", file, strerror(errno));
		goto out;
	}
	int64_t count = 0;
	r = kn_rec_import(e, &u, t, in, (int)batch, &count, &err);
	if (r) {
		engine_error(cmd, &err);
		fprintf(stderr, "kanri: %s: %lld records were imported before the error\n",
			cmd->name, (long long)count);
		goto out;
	}
	printf("imported %lld records\n", (long long)count);
	rc = 0;
out:
	if (in && in != stdin)
		fclose(in);
	kn_engine_close(e);
	return rc;
}

/* kanri calendar due|between: the options become the parameters of
 * GET /calendar/due|between, answered the same way. */
static int calendar_calc(const command *cmd, int argc, char **argv, bool due)
{
	static const char *const names[] = {"from", "to", "duration", "hours", "days", "holidays",
					    "zone", "except", "calendar", "data", "json"};
	enum { NNAMES = sizeof names / sizeof names[0] };
	struct option lo[NNAMES + 2];
	for (int i = 0; i < NNAMES; i++)
		lo[i] = (struct option){names[i], strcmp(names[i], "json") ? required_argument
									    : no_argument,
					NULL, 256 + i};
	lo[NNAMES] = (struct option){"help", no_argument, NULL, 'h'};
	lo[NNAMES + 1] = (struct option){0};
	kn_param p[48];
	size_t np = 0;
	const char *data = NULL, *calname = NULL;
	bool json = false;
	int c;
	while ((c = next_opt(cmd, argc, argv, ":h", lo)) != -1) {
		if (c < 0)
			return opt_exit(c);
		const char *n = names[c - 256];
		if (!strcmp(n, "json"))
			json = true;
		else if (!strcmp(n, "data"))
			data = optarg;
		else if ((!strcmp(n, "to") && due) || (!strcmp(n, "duration") && !due))
			return usage_error(cmd, "--%s is not an option of this command", n);
		else if (np < 48)
			p[np++] = (kn_param){!strcmp(n, "zone") ? "time_zone" : n, optarg};
		if (!strcmp(n, "calendar"))
			calname = optarg;
	}
	if (argc > optind)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (calname && !data)
		return usage_error(cmd, "--calendar NAME is a stored calendar: give --data DIR too");
	if (data && !calname)
		return usage_error(cmd, "--data DIR goes with --calendar NAME");
	kn_engine *e = NULL;
	if (data && open_engine(cmd, data, &e))
		return 1;
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_calendar_api(e, NULL, due, p, np, &out, &err);
	if (e)
		kn_engine_close(e);
	if (rc)
		return engine_error(cmd, &err);
	if (json) {
		char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s);
		free(s);
	} else if (due) {
		printf("%s\n", json_string_value(json_object_get(out, "due")));
	} else {
		printf("%s (%lld seconds)\n", json_string_value(json_object_get(out, "duration")),
		       (long long)json_integer_value(json_object_get(out, "seconds")));
	}
	json_decref(out);
	return 0;
}

static int cmd_calendar_due(const command *cmd, int argc, char **argv)
{
	return calendar_calc(cmd, argc, argv, true);
}

static int cmd_calendar_between(const command *cmd, int argc, char **argv)
{
	return calendar_calc(cmd, argc, argv, false);
}

static int cmd_sla_recompute(const command *cmd, int argc, char **argv)
{
	const char *data = NULL;
	int rc0 = data_only(cmd, argc, argv, &data);
	if (rc0 >= 0)
		return rc0;
	kn_engine *e;
	if (open_engine(cmd, data, &e))
		return 1;
	kn_error err = {0};
	int64_t n = 0, changed = 0;
	int rc = kn_sla_recompute(e, &n, &changed, &err);
	kn_engine_close(e);
	if (rc)
		return engine_error(cmd, &err);
	printf("%lld clocks checked, %lld records changed\n", (long long)n, (long long)changed);
	return 0;
}

#define CALENDAR_OPTS                                                                         \
	"  --hours SPANS      service hours each open day: 09:00-18:00, or\n"                    \
	"                     09:00-12:00,13:00-18:00 (default 09:00-18:00)\n"                    \
	"  --days DAYS        open weekdays: mon-fri, mon,wed,fri, mon-sat (default mon-fri)\n"   \
	"  --holidays SET     jp (Japanese public holidays, the default) or none\n"              \
	"  --zone ZONE        the time zone: Asia/Tokyo (default), America/New_York, +09:00\n"  \
	"  --except DATES     closed dates: 12-29..01-03 (every year), 2026-12-26, or other\n"   \
	"                     hours on them: 2026-12-26=10:00-15:00 (repeatable)\n"             \
	"  --data DIR --calendar NAME\n"                                                          \
	"                     a stored calendar instead of the options above\n"                  \
	"  --json             the whole answer as JSON\n"

/* ---- the command table ------------------------------------------------------ */

static const command commands[] = {
	{"init", cmd_init, "--data DIR [--store DSN [--join]]",
	 "Create a data folder with a new database and the user admin.",
	 "  --data DIR    the folder to create (must not exist, or be empty)\n"
	 "  --store DSN   keep the data in PostgreSQL: postgres://USER@HOST:PORT/DB\n"
	 "                (an existing, empty UTF8 database; default: SQLite in DIR)\n"
	 "  --join        the database already holds an installation: make DIR another\n"
	 "                node of it (no new admin user)\n"
	 "\nThe admin password is KANRI_ADMIN_PASSWORD when set, else a random one\n"
	 "that is printed once. The store is written to DIR/config.json; a password is\n"
	 "best kept out of it, in ~/.pgpass or PGPASSWORD. The business calendars\n"
	 "standard and 24x7 and the Japanese public holidays are made with it.\n"},
	{"serve", cmd_serve, "--data DIR [--listen HOST:PORT] [--threads N] [--access-log]",
	 "Serve the REST API until SIGINT or SIGTERM.",
	 "  --data DIR          the data folder\n"
	 "  --listen HOST:PORT  address to listen on ([ADDR]:PORT for IPv6; default the\n"
	 "                      config key \"listen\", else " DEFAULT_LISTEN ")\n"
	 "  --threads N         a fixed pool of N threads (default: a thread per connection)\n"
	 "  --access-log        one line per request on stderr\n"},
	{"user add", cmd_user_add, "--data DIR --name NAME --role ROLE [--org ORG]",
	 "Add a user.",
	 "  --data DIR    the data folder\n"
	 "  --name NAME   the login name\n"
	 "  --role ROLE   admin, agent, enduser or auditor\n"
	 "  --org ORG     the organisation (required for end users)\n"
	 "\nThe password is KANRI_PASSWORD when set; else it is asked twice on the\n"
	 "terminal, or read as one line from stdin when that is not a terminal.\n"},
	{"token create", cmd_token_create, "--data DIR --user NAME [--label LABEL]",
	 "Create an API token for a user; prints it as the last line.",
	 "  --data DIR      the data folder\n"
	 "  --user NAME     whose token\n"
	 "  --label LABEL   what it is for\n"},
	{"audit verify", cmd_audit_verify, "--data DIR",
	 "Verify the journal's hash chain and every record against it.",
	 "  --data DIR   the data folder\n"
	 "\nExits 0 when intact, 1 naming the first broken entry.\n"},
	{"import", cmd_import, "--data DIR --type PLURAL [--as USER] [--batch N] [FILE|-]",
	 "Import records from JSON Lines (one object per line, as for POST).",
	 "  --data DIR       the data folder\n"
	 "  --type PLURAL    the record type (incidents, groups...)\n"
	 "  --as USER        who creates them (default admin)\n"
	 "  --batch N        records per transaction (default 10000)\n"
	 "  FILE             the input (default -, standard input)\n"},
	{"backup", cmd_backup, "--data DIR --out FILE",
	 "Write a consistent copy of the installation to a new SQLite file, online.",
	 "  --data DIR   the data folder\n"
	 "  --out FILE   the backup file to write (must not exist)\n"
	 "\nWorks on every store while the server runs. The file holds every record,\n"
	 "comment, relation, journal entry, user, token and the schema overlays; it is\n"
	 "verified before the command succeeds. Restore it with kanri restore.\n"},
	{"restore", cmd_restore, "--from FILE --data DIR [--store DSN]",
	 "Create a new data folder from a backup file.",
	 "  --from FILE   a file written by kanri backup\n"
	 "  --data DIR    the folder to create (must not exist, or be empty)\n"
	 "  --store DSN   restore into this PostgreSQL database (empty; default: SQLite\n"
	 "                in DIR)\n"
	 "\nThe restored journal and records are verified before the command succeeds.\n"},
	{"calendar due", cmd_calendar_due,
	 "--from TIME --duration D [calendar options | --data DIR --calendar NAME]",
	 "Print the instant a duration of business time after a start ends.",
	 "  --from TIME        the start, with its zone: 2026-11-20T15:30+09:00\n"
	 "  --duration D       business time: 6h, 90m, 1h30m, PT6H\n" CALENDAR_OPTS
	 "\nThe due instant is printed in the calendar's zone. A start outside service\n"
	 "hours counts from the next opening.\n"},
	{"calendar between", cmd_calendar_between,
	 "--from TIME --to TIME [calendar options | --data DIR --calendar NAME]",
	 "Print the business time between two instants.",
	 "  --from TIME        the first instant, with its zone\n"
	 "  --to TIME          the second instant, with its zone\n" CALENDAR_OPTS},
	{"sla recompute", cmd_sla_recompute, "--data DIR",
	 "Recompute the due times of every open ticket from the current agreements.",
	 "  --data DIR   the data folder\n"
	 "\nThe server does this by itself within a minute of a change to an agreement,\n"
	 "a calendar or a holiday; this runs it now.\n"},
	{"migrate-store", cmd_migrate_store, "--data DIR --to DSN",
	 "Move an installation to another store (SQLite to PostgreSQL, or back).",
	 "  --data DIR   the data folder (stop its server first)\n"
	 "  --to DSN     the target: postgres://USER@HOST:PORT/DB or sqlite:PATH (empty)\n"
	 "\nCopies everything, verifies the copy, then points DIR/config.json at it.\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void main_help(FILE *f)
{
	fprintf(f, "usage: kanri COMMAND [options]\n\n"
		   "kanri %s - IT service management\n\ncommands:\n",
		KN_VERSION);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'kanri COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_help(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		main_help(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("kanri %s\n", KN_VERSION);
		return 0;
	}
	/* A command is one word, or two (user add): match the longest. */
	const command *cmd = NULL;
	int words = 0;
	bool family = false;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *n = commands[i].name, *sp = strchr(n, ' ');
		size_t l1 = sp ? (size_t)(sp - n) : strlen(n);
		if (strlen(argv[1]) != l1 || strncmp(argv[1], n, l1))
			continue;
		if (!sp) {
			cmd = &commands[i];
			words = 1;
			break;
		}
		family = true;
		if (argc > 2 && !strcmp(argv[2], sp + 1)) {
			cmd = &commands[i];
			words = 2;
			break;
		}
	}
	if (!cmd) {
		if (family) {
			fprintf(stderr, "kanri: %s: %s\n", argv[1],
				argc > 2 ? "unknown subcommand" : "a subcommand is needed");
			for (size_t i = 0; i < NCOMMANDS; i++)
				if (!strncmp(commands[i].name, argv[1], strlen(argv[1])) &&
				    commands[i].name[strlen(argv[1])] == ' ')
					usage_line(&commands[i], stderr);
			return 2;
		}
		fprintf(stderr, "kanri: unknown command '%s'\n", argv[1]);
		main_help(stderr);
		return 2;
	}
	/* getopt sees the command's words as argv[0]. */
	optind = 1;
	return cmd->run(cmd, argc - words, argv + words);
}
