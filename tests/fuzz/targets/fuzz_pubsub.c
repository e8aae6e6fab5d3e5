/* fuzz_pubsub: what the worker's subscriber connection reads (RESP from Redis carrying
 * job_submitted / cancel_job / emp-worker:wake messages published by anyone), through the
 * public path emp_queue_read_events: the bytes are written into a socketpair whose other end is
 * the queue's subscriber hiredis context. Invariants: events carry valid strings; a protocol
 * error disconnects the subscriber instead of crashing. */
#include "fuzz_common.h"
#include <errno.h>
#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <unistd.h>

#include "queue_internal.h"

static size_t g_events;

static void on_event(const emp_queue_event_t *ev, void *arg)
{
    (void)arg;
    FZ_CHECK(ev->kind == EMP_QEV_JOB_SUBMITTED || ev->kind == EMP_QEV_CANCEL);
    if (ev->job_id)
        g_events += strlen(ev->job_id);
    if (ev->service)
        g_events += strlen(ev->service);
    if (ev->kind == EMP_QEV_CANCEL)
        FZ_CHECK(ev->job_id != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct emp_queue q;
    memset(&q, 0, sizeof q);
    q.sub = redisConnectFd(sv[0]);
    if (q.sub == NULL)
        abort();
    q_guard_reader(q.sub); /* as emp_queue_connect does for its connections */
    size_t off = 0;
    int rc = 0;
    while (off < size && rc == 0) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w < 0 && errno != EAGAIN)
            abort();
        if (w > 0)
            off += (size_t)w;
        rc = emp_queue_read_events(&q, on_event, NULL);
    }
    if (rc == 0 && size > 0) {
        close(sv[1]); /* EOF: the subscriber must notice the connection is gone */
        sv[1] = -1;
        rc = emp_queue_read_events(&q, on_event, NULL);
        FZ_CHECK(rc == -1 && q.sub == NULL);
    }
    if (rc != 0)
        FZ_CHECK(q.sub == NULL && q.err[0] != '\0');
    emp_queue_disconnect(&q); /* closes sv[0] when still open */
    if (sv[1] >= 0)
        close(sv[1]);
    return 0;
}
