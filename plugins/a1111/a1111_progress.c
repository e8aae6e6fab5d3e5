/* a1111_progress.c - progress parsing and attribution (see a1111_progress.h). */
#include "a1111_progress.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Progress answers are small; anything bigger is not one (current_image is skipped). */
#define A1111_PROGRESS_BODY_MAX (4 * 1024 * 1024)
/* Reported fractions stay below this until the generation call has returned. */
#define A1111_PROGRESS_CAP 0.99

static double num_field(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : def;
}

/* Counters are clamped into a range where they can be compared and printed safely. */
static long long int_field(const cJSON *o, const char *name)
{
    double d = num_field(o, name, 0);
    if (d > 1e12)
        return 1000000000000LL;
    if (d < -1e12)
        return -1000000000000LL;
    return (long long)d;
}

static void str_field(const cJSON *o, const char *name, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, outlen, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static cJSON *parse_object(const char *body, size_t len)
{
    if (body == NULL || len == 0 || len > A1111_PROGRESS_BODY_MAX)
        return NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int a1111_progress_parse(const char *body, size_t len, a1111_progress_snap_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = parse_object(body, len);
    if (root == NULL)
        return -1;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "progress");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (!cJSON_IsNumber(p) && !cJSON_IsObject(st)) {
        cJSON_Delete(root);
        return -1;
    }
    out->progress = num_field(root, "progress", 0);
    out->eta_relative = num_field(root, "eta_relative", 0);
    if (cJSON_IsObject(st)) {
        out->has_state = 1;
        str_field(st, "job", out->job, sizeof out->job);
        str_field(st, "job_timestamp", out->job_timestamp, sizeof out->job_timestamp);
        out->job_count = int_field(st, "job_count");
        out->job_no = int_field(st, "job_no");
        out->sampling_step = int_field(st, "sampling_step");
        out->sampling_steps = int_field(st, "sampling_steps");
        out->interrupted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "interrupted"));
    }
    cJSON_Delete(root);
    return 0;
}

int a1111_task_parse(const char *body, size_t len, a1111_task_snap_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = parse_object(body, len);
    if (root == NULL)
        return -1;
    const cJSON *active = cJSON_GetObjectItemCaseSensitive(root, "active");
    if (!cJSON_IsBool(active)) {
        cJSON_Delete(root);
        return -1;
    }
    out->active = cJSON_IsTrue(active);
    out->queued = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "queued"));
    out->completed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "completed"));
    str_field(root, "textinfo", out->textinfo, sizeof out->textinfo);
    cJSON_Delete(root);
    return 0;
}

/* Our own fraction from the state counters (the server's adds 0.01 and can exceed 1). -1 when
 * the counters do not describe a running generation yet (job_count -1 while starting). */
static double snap_fraction(const a1111_progress_snap_t *s)
{
    if (!s->has_state || s->job_count <= 0)
        return -1;
    double f = (double)s->job_no;
    if (s->sampling_steps > 0 && s->sampling_step > 0)
        f += (double)(s->sampling_step < s->sampling_steps ? s->sampling_step : s->sampling_steps) /
             (double)s->sampling_steps;
    f /= (double)s->job_count;
    return f < 0 ? 0 : (f > 1 ? 1 : f);
}

static int snap_busy(const a1111_progress_snap_t *s) { return s->has_state && s->job_count != 0; }

void a1111_tracker_init(a1111_tracker_t *t, const char *state_job, int tracked)
{
    memset(t, 0, sizeof *t);
    snprintf(t->state_job, sizeof t->state_job, "%s", state_job);
    t->tracked = tracked;
    t->last_fraction = -1;
}

void a1111_tracker_baseline(a1111_tracker_t *t, const a1111_progress_snap_t *snap)
{
    if (snap == NULL || !snap_busy(snap))
        return;
    t->baseline_busy = 1;
    snprintf(t->baseline_ts, sizeof t->baseline_ts, "%s", snap->job_timestamp);
    t->baseline_pos = snap_fraction(snap);
    t->owner = A1111_OWNER_OTHER; /* ours waits behind the job that runs now */
}

/* The global-mode verdict for a busy snapshot. */
static a1111_owner_t global_owner(a1111_tracker_t *t, const a1111_progress_snap_t *s)
{
    int our_kind = strcmp(s->job, t->state_job) == 0;
    double pos = snap_fraction(s);
    if (t->ours_seen)
        return our_kind && strcmp(s->job_timestamp, t->our_ts) == 0 ? A1111_OWNER_OURS
                                                                    : A1111_OWNER_OTHER;
    int started_after = !t->baseline_busy || t->gap_seen ||
                        strcmp(s->job_timestamp, t->baseline_ts) != 0 || pos < t->baseline_pos;
    if (started_after && our_kind) {
        t->ours_seen = 1;
        snprintf(t->our_ts, sizeof t->our_ts, "%s", s->job_timestamp);
        return A1111_OWNER_OURS;
    }
    /* Someone else's job: it becomes the baseline that ours has to come after. */
    if (started_after) {
        t->baseline_busy = 1;
        t->gap_seen = 0;
        snprintf(t->baseline_ts, sizeof t->baseline_ts, "%s", s->job_timestamp);
    }
    if (pos > t->baseline_pos || started_after)
        t->baseline_pos = pos;
    return A1111_OWNER_OTHER;
}

static int report(a1111_tracker_t *t, double f, const char *msg, double *fraction, char *out,
                  size_t outlen)
{
    if (f > A1111_PROGRESS_CAP)
        f = A1111_PROGRESS_CAP;
    if (f < t->last_fraction)
        f = t->last_fraction; /* monotonic: a second pass or a new batch never goes back */
    if (f == t->last_fraction && strcmp(msg, t->last_message) == 0)
        return 0;
    t->last_fraction = f;
    snprintf(t->last_message, sizeof t->last_message, "%s", msg);
    *fraction = f;
    snprintf(out, outlen, "%s", msg);
    return 1;
}

int a1111_tracker_update(a1111_tracker_t *t, const a1111_progress_snap_t *snap,
                         const a1111_task_snap_t *task, double *fraction, char *msg, size_t msglen)
{
    char text[160];
    if (t->tracked) {
        if (task == NULL) {
            t->owner = A1111_OWNER_UNKNOWN;
            return 0;
        }
        if (task->queued && !task->active) {
            t->owner = A1111_OWNER_OTHER;
            snprintf(text, sizeof text, "waiting in A1111's queue (%s)", task->textinfo);
            return report(t, 0, text, fraction, msg, msglen);
        }
        t->owner = task->active ? A1111_OWNER_OURS : A1111_OWNER_UNKNOWN;
        /* The two polls race at job boundaries: use the counters only when they agree. */
        if (!task->active || snap == NULL || !snap_busy(snap) ||
            strcmp(snap->job, t->state_job) != 0)
            return 0;
    } else {
        if (snap == NULL) {
            t->owner = A1111_OWNER_UNKNOWN;
            return 0;
        }
        if (!snap_busy(snap)) {
            if (t->baseline_busy)
                t->gap_seen = 1;
            t->owner = A1111_OWNER_UNKNOWN;
            return 0;
        }
        t->owner = global_owner(t, snap);
        if (t->owner != A1111_OWNER_OURS)
            return 0;
    }

    double f = snap_fraction(snap);
    if (f < 0)
        return report(t, 0, "A1111 is starting the generation", fraction, msg, msglen);
    int n =
        snprintf(text, sizeof text, "step %lld/%lld", snap->sampling_step, snap->sampling_steps);
    if (snap->job_count > 1 && n > 0 && (size_t)n < sizeof text)
        n += snprintf(text + n, sizeof text - (size_t)n, ", batch %lld/%lld",
                      snap->job_no + 1 > snap->job_count ? snap->job_count : snap->job_no + 1,
                      snap->job_count);
    if (snap->eta_relative > 0 && snap->eta_relative < 1e7 && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ", eta %.1f s", snap->eta_relative);
    return report(t, f, text, fraction, msg, msglen);
}
