/* fuzz_redis_url: emp_redis_url_parse and emp_redis_url_redacted on any text (HUB_REDIS_URL,
 * redis.url). Invariants: a parsed URL is either TCP (host, port 1..65535) or a unix socket
 * (absolute path); nothing follows the host/db (no query: it could hold a password that would
 * be ignored); the redacted form never contains a parsed password of 4+ bytes that does not
 * also occur in the rest of the URL, and masks any query. */
#include "fuzz_common.h"
#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fz_cstr(data, size);
    emp_redis_url_t u;
    char err[256];
    int rc = emp_redis_url_parse(url, &u, err, sizeof err);
    char *red = emp_redis_url_redacted(url);
    FZ_CHECK(red != NULL);
    if (rc == 0) {
        FZ_CHECK((u.host != NULL) != (u.socket != NULL));
        if (u.host)
            FZ_CHECK(u.port >= 1 && u.port <= 65535);
        if (u.socket)
            FZ_CHECK(u.socket[0] == '/');
        FZ_CHECK(u.db >= 0);
        if (u.host) {
            const char *at = strrchr(url, '@');
            FZ_CHECK(strpbrk(at ? at + 1 : url + 8, "?#") == NULL);
        }
        /* a password holding '*' or '@' can be spelled by the mask and the host together
         * (password "*@xyz" with host "xyz" redacts to "***@xyz"): not a leak */
        if (u.password && strlen(u.password) >= 4 && strchr(url, '%') == NULL &&
            strpbrk(u.password, "*@") == NULL) {
            /* the password may legitimately appear elsewhere (host, path): only check when it
             * occurs exactly once in the URL */
            const char *first = strstr(url, u.password);
            if (first && strstr(first + 1, u.password) == NULL)
                FZ_CHECK(strstr(red, u.password) == NULL);
        }
        emp_redis_url_free(&u);
    } else {
        FZ_CHECK(err[0] != '\0');
        FZ_CHECK(u.host == NULL && u.socket == NULL && u.password == NULL && u.user == NULL);
    }
    free(red);
    free(url);
    return 0;
}
