/* comfyui_util.c - see comfyui_util.h. */
#define _GNU_SOURCE
#include "comfyui_util.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ebase64.h"

int64_t cfy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cfy_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cfy_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    static const char hex[] = "0123456789abcdef";
    if (nbytes > sizeof raw)
        return -1;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}

void cfy_urlencode(ebuf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            ebuf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            ebuf_append(b, e, 3);
        }
    }
}

void cfy_base64_encode(ebuf_t *b, const unsigned char *in, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char chunk[4 * 256];
    size_t c = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        chunk[c++] = tbl[(v >> 18) & 63];
        chunk[c++] = tbl[(v >> 12) & 63];
        chunk[c++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        chunk[c++] = i + 2 < n ? tbl[v & 63] : '=';
        if (c == sizeof chunk) {
            ebuf_append(b, chunk, c);
            c = 0;
        }
    }
    ebuf_append(b, chunk, c);
}

int cfy_base64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len,
                      size_t max_out)
{
    *out = NULL;
    *out_len = 0;
    size_t est = n / 4 * 3 + 3;
    if (est > max_out + 3)
        est = max_out + 3;
    unsigned char *o = malloc(est ? est : 1);
    if (o == NULL)
        return -2;
    size_t on = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = ebase64_digit(c);
        if (v < 0 || pad) {
            free(o);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (on >= max_out) {
                free(o);
                return -2;
            }
            o[on++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (bits >= 6 || pad > 2) { /* a lone trailing character or too much padding */
        free(o);
        return -1;
    }
    *out = o;
    *out_len = on;
    return 0;
}

const char *cfy_mime_for_name(const char *filename)
{
    static const struct {
        const char *ext, *mime;
    } table[] = {
        {"png", "image/png"},        {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
        {"webp", "image/webp"},      {"gif", "image/gif"},         {"bmp", "image/bmp"},
        {"tif", "image/tiff"},       {"tiff", "image/tiff"},       {"svg", "image/svg+xml"},
        {"mp4", "video/mp4"},        {"webm", "video/webm"},       {"mov", "video/quicktime"},
        {"mkv", "video/x-matroska"}, {"wav", "audio/wav"},         {"mp3", "audio/mpeg"},
        {"flac", "audio/flac"},      {"ogg", "audio/ogg"},         {"json", "application/json"},
        {"txt", "text/plain"},       {"glb", "model/gltf-binary"},
    };
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    if (dot != NULL)
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcasecmp(dot + 1, table[i].ext) == 0)
                return table[i].mime;
    return "application/octet-stream";
}

static int v4_is_private(uint32_t a)
{
    static const struct {
        uint32_t net, mask;
    } blocked[] = {
        {0x00000000u, 0xff000000u}, /* 0.0.0.0/8 "this network" */
        {0x0a000000u, 0xff000000u}, /* 10/8 */
        {0x64400000u, 0xffc00000u}, /* 100.64/10 CGNAT */
        {0x7f000000u, 0xff000000u}, /* 127/8 loopback */
        {0xa9fe0000u, 0xffff0000u}, /* 169.254/16 link-local (cloud metadata) */
        {0xac100000u, 0xfff00000u}, /* 172.16/12 */
        {0xc0000000u, 0xffffff00u}, /* 192.0.0/24 */
        {0xc0a80000u, 0xffff0000u}, /* 192.168/16 */
        {0xc6120000u, 0xfffe0000u}, /* 198.18/15 benchmarking */
        {0xe0000000u, 0xe0000000u}, /* 224/3 multicast + reserved + broadcast */
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
        if ((a & blocked[i].mask) == blocked[i].net)
            return 1;
    return 0;
}

int cfy_addr_is_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_is_private(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, v4mapped, 12) == 0) {
            uint32_t a =
                (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
            return v4_is_private(a);
        }
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
            IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) || IN6_IS_ADDR_SITELOCAL(&in6->sin6_addr) ||
            IN6_IS_ADDR_MULTICAST(&in6->sin6_addr) || IN6_IS_ADDR_V4COMPAT(&in6->sin6_addr))
            return 1;
        if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
            return 1;
        return 0;
    }
    return 1;
}
