/*
 * test_loader.c - the host's plugin loader (core/plugin_loader.c) against deliberately broken
 * plugin files: each is refused with its own message. Also the checks only the host makes
 * (file name, permissions, ownership) and emp_plugin_scan.
 *
 * Usage: test_loader BROKEN_DIR PLUGIN_BUILD_DIR
 * Every test copies the files it needs into a private directory, so the modes tested are the
 * ones set here whatever the umask or the build tree.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broken_cases.h"
#include "plugin_host.h"

static const char *g_broken_dir;
static const char *g_plugin_dir;

typedef struct fx {
    char dir[128];
    char err[2048];
} fx_t;

static void copy_file(const char *src, const char *dst, mode_t mode)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL)
        fail_msg("cannot open %s (was it built?)", src);
    FILE *out = fopen(dst, "wb");
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(dst, mode), 0);
}

/* Copies <from>/<name>.so into the test's directory as <as>.so. */
static void put(fx_t *f, const char *from, const char *name, const char *as, mode_t mode)
{
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/%s.so", from, name);
    snprintf(dst, sizeof dst, "%s/%s.so", f->dir, as);
    copy_file(src, dst, mode);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/emp-loadertest-XXXXXX");
    if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0755) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[256];
    chmod(f->dir, 0755);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* One test per broken_cases[] entry (the case is the test's initial state). */
typedef struct case_fx {
    fx_t fx;
    const broken_case_t *bc;
} case_fx_t;

static int case_setup(void **state)
{
    const broken_case_t *bc = *state;
    case_fx_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    snprintf(c->fx.dir, sizeof c->fx.dir, "/tmp/emp-loadertest-XXXXXX");
    if (mkdtemp(c->fx.dir) == NULL || chmod(c->fx.dir, 0755) != 0)
        return -1;
    c->bc = bc;
    *state = c;
    return 0;
}

static void test_refused(void **state)
{
    case_fx_t *c = *state;
    fx_t *f = &c->fx;
    const char *name = c->bc->name;
    put(f, g_broken_dir, name, name, 0644);
    emp_plugin_inst_t *inst = emp_plugin_load(f->dir, name, f->err, sizeof f->err);
    assert_null(inst);
    char path[256], want[2048];
    snprintf(path, sizeof path, "%s/%s.so", f->dir, name);
    if (broken_expected(name, path, want, sizeof want)) {
        assert_string_equal(f->err, want);
    } else {
        assert_true(strncmp(f->err, want, strlen(want)) == 0);
        if (!broken_unresolved_ok(f->err, path))
            fail_msg("unexpected message: %s", f->err);
    }
    if (strstr(f->err, c->bc->phrase) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", f->err, c->bc->phrase);
}

static void test_mock_loads(void **state)
{
    fx_t *f = *state;
    put(f, g_plugin_dir, "mock", "mock", 0644);
    emp_plugin_inst_t *inst = emp_plugin_load(f->dir, "mock", f->err, sizeof f->err);
    if (inst == NULL)
        fail_msg("mock refused: %s", f->err);
    assert_string_equal(inst->name, "mock");
    assert_non_null(inst->dl);
    assert_int_equal(inst->desc->abi_major, EMP_PLUGIN_ABI_MAJOR);
    assert_int_equal(inst->nservices, 1);
    assert_string_equal(inst->services[0], "mock");
    assert_true(emp_plugin_serves(inst, "mock"));
    assert_false(emp_plugin_serves(inst, "comfyui"));
    char want[256];
    snprintf(want, sizeof want, "%s/mock.so", f->dir);
    assert_string_equal(inst->path, want);
    assert_int_equal(inst->created, 0);
    emp_plugin_unload(inst);
}

static void test_not_elf(void **state)
{
    fx_t *f = *state;
    char path[256];
    snprintf(path, sizeof path, "%s/garbage.so", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 20; i++)
        fputs("this is a text file, not a shared object\n", fp);
    fclose(fp);
    chmod(path, 0644);
    assert_null(emp_plugin_load(f->dir, "garbage", f->err, sizeof f->err));
    char want[512];
    snprintf(want, sizeof want, "%s: cannot load: ", path);
    assert_true(strncmp(f->err, want, strlen(want)) == 0);
    assert_non_null(strstr(f->err, "invalid ELF header"));
}

static void test_name_mismatch(void **state)
{
    fx_t *f = *state;
    put(f, g_broken_dir, "misnamed", "misnamed", 0644);
    assert_null(emp_plugin_load(f->dir, "misnamed", f->err, sizeof f->err));
    char want[512];
    snprintf(want, sizeof want,
             "%s/misnamed.so: the plugin calls itself \"othername\", not \"misnamed\"; rename "
             "the file",
             f->dir);
    assert_string_equal(f->err, want);
}

static void test_missing(void **state)
{
    fx_t *f = *state;
    assert_null(emp_plugin_load(f->dir, "nosuch", f->err, sizeof f->err));
    char want[512];
    snprintf(want, sizeof want, "%s/nosuch.so: no such plugin (is nosuch.so installed in %s?)",
             f->dir, f->dir);
    assert_string_equal(f->err, want);
}

static void test_not_regular(void **state)
{
    fx_t *f = *state;
    char path[256], want[512];
    snprintf(path, sizeof path, "%s/adir.so", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_null(emp_plugin_load(f->dir, "adir", f->err, sizeof f->err));
    snprintf(want, sizeof want, "%s: not a regular file", path);
    assert_string_equal(f->err, want);
}

static void test_writable_file(void **state)
{
    fx_t *f = *state;
    const mode_t modes[] = {0664, 0646, 0666};
    const char *const shown[] = {"664", "646", "666"};
    for (int i = 0; i < 3; i++) {
        put(f, g_plugin_dir, "mock", "mock", 0644);
        char path[256], want[1024];
        snprintf(path, sizeof path, "%s/mock.so", f->dir);
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_null(emp_plugin_load(f->dir, "mock", f->err, sizeof f->err));
        snprintf(want, sizeof want,
                 "%s: refused: plugin file is writable by group or others (mode %s); run "
                 "`chmod go-w %s`",
                 path, shown[i], path);
        assert_string_equal(f->err, want);
        unlink(path);
    }
}

static void test_writable_dir(void **state)
{
    fx_t *f = *state;
    put(f, g_plugin_dir, "mock", "mock", 0644);
    assert_int_equal(chmod(f->dir, 0757), 0);
    assert_null(emp_plugin_load(f->dir, "mock", f->err, sizeof f->err));
    char want[1024];
    snprintf(want, sizeof want,
             "%s: refused: plugin directory is writable by group or others (mode 757); run "
             "`chmod go-w %s`",
             f->dir, f->dir);
    assert_string_equal(f->err, want);
    assert_int_equal(chmod(f->dir, 0775), 0);
    assert_null(emp_plugin_load(f->dir, "mock", f->err, sizeof f->err));
    assert_non_null(strstr(f->err, "plugin directory is writable by group or others (mode 775)"));
    assert_int_equal(chmod(f->dir, 0755), 0);
    emp_plugin_inst_t *inst = emp_plugin_load(f->dir, "mock", f->err, sizeof f->err);
    assert_non_null(inst);
    emp_plugin_unload(inst);
}

/* A file owned by someone else (neither root nor us). Needs root to chown. */
static void test_foreign_owner(void **state)
{
    fx_t *f = *state;
    if (geteuid() != 0) {
        print_message("  (skipped: needs root to chown)\n");
        skip();
    }
    put(f, g_plugin_dir, "mock", "mock", 0644);
    char path[256], want[512];
    snprintf(path, sizeof path, "%s/mock.so", f->dir);
    assert_int_equal(chown(path, 4242, 4242), 0);
    assert_null(emp_plugin_load(f->dir, "mock", f->err, sizeof f->err));
    snprintf(want, sizeof want,
             "%s: refused: owned by uid 4242, neither root nor the service user (uid 0)", path);
    assert_string_equal(f->err, want);
}

typedef struct scan_rec {
    char lines[16][1200];
    int n;
} scan_rec_t;

static void scan_cb(const char *path, const emp_plugin_t *desc, const char *error, void *arg)
{
    scan_rec_t *r = arg;
    if (r->n < 16)
        snprintf(r->lines[r->n++], sizeof r->lines[0], "%s|%s|%s", path, desc ? desc->name : "-",
                 error ? error : "-");
}

static void test_scan(void **state)
{
    fx_t *f = *state;
    put(f, g_plugin_dir, "mock", "mock", 0644);
    put(f, g_broken_dir, "norun", "norun", 0644);
    put(f, g_broken_dir, "misnamed", "misnamed", 0644);
    put(f, g_broken_dir, "noentry", "a-noentry", 0666);
    char other[256];
    snprintf(other, sizeof other, "%s/README.txt", f->dir);
    FILE *fp = fopen(other, "w");
    fclose(fp);
    scan_rec_t r = {0};
    assert_int_equal(emp_plugin_scan(f->dir, scan_cb, &r), 0);
    assert_int_equal(r.n, 4);
    char want[1200];
    /* sorted by file name; the writable file is refused before it is opened */
    snprintf(want, sizeof want,
             "%s/a-noentry.so|-|%s/a-noentry.so: refused: plugin file is writable by group or "
             "others (mode 666); run `chmod go-w %s/a-noentry.so`",
             f->dir, f->dir, f->dir);
    assert_string_equal(r.lines[0], want);
    /* listed as loading would treat it: a descriptor name that is not the file's is refused */
    snprintf(want, sizeof want,
             "%s/misnamed.so|-|%s/misnamed.so: the plugin calls itself \"othername\", not "
             "\"misnamed\"; rename the file",
             f->dir, f->dir);
    assert_string_equal(r.lines[1], want);
    snprintf(want, sizeof want, "%s/mock.so|mock|-", f->dir);
    assert_string_equal(r.lines[2], want);
    snprintf(want, sizeof want,
             "%s/norun.so|-|%s/norun.so: plugin 'norun' has no run callback, which is mandatory",
             f->dir, f->dir);
    assert_string_equal(r.lines[3], want);

    /* a writable directory: one callback naming the directory, and -1 */
    chmod(f->dir, 0775);
    memset(&r, 0, sizeof r);
    assert_int_equal(emp_plugin_scan(f->dir, scan_cb, &r), -1);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.lines[0], "refused: plugin directory is writable"));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s BROKEN_DIR PLUGIN_BUILD_DIR\n", argv[0]);
        return 2;
    }
    g_broken_dir = argv[1];
    g_plugin_dir = argv[2];
    struct CMUnitTest tests[64];
    static char names[32][64];
    size_t n = 0;
    for (size_t i = 0; broken_cases[i].name; i++) {
        snprintf(names[i], sizeof names[i], "refuses_%s", broken_cases[i].name);
        tests[n++] = (struct CMUnitTest){names[i], test_refused, case_setup, teardown,
                                         (void *)&broken_cases[i]};
    }
    const struct CMUnitTest fixed[] = {
        cmocka_unit_test_setup_teardown(test_mock_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_elf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        tests[n++] = fixed[i];
    return _cmocka_run_group_tests("loader", tests, n, NULL, NULL);
}
