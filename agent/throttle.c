/*
 * Retry-After, rate-limit budgets and the cooldowns they make (see throttle.h).
 */
#include <string.h>

#include "throttle.h"

#define MS_PER_S 1000u

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool throttle_parse_count(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d;

        if (!is_digit(s[i]))
            return false;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The buffer holds decimal digits only (it is not NUL-terminated). */
static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return n > 0;
}

/* Exactly `n` digits at s. */
static bool fixed_digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to the civil date (proleptic Gregorian), for any year >= 0. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool throttle_parse_http_date(const char *s, size_t n, int64_t *unix_s)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int day, year, hh, mm, ss, month = -1;
    bool day_ok = false;

    /* "Sun, 06 Nov 1994 08:49:37 GMT": 29 bytes, every one at its place. */
    if (n != 29 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return false;
    for (size_t i = 0; i < 7; i++)
        day_ok |= memcmp(s, days[i], 3) == 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months[i], 3) == 0)
            month = i + 1;
    if (!day_ok || month < 0 || !fixed_digits(s + 5, 2, &day) || !fixed_digits(s + 12, 4, &year) ||
        !fixed_digits(s + 17, 2, &hh) || !fixed_digits(s + 20, 2, &mm) ||
        !fixed_digits(s + 23, 2, &ss))
        return false;
    if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return false;
    *unix_s = days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return true;
}

/* A unit of a duration at s, and its length; 0 when none. */
static size_t unit_ms(const char *s, size_t n, uint64_t *ms)
{
    if (n >= 2 && s[0] == 'm' && s[1] == 's') {
        *ms = 1;
        return 2;
    }
    if (n >= 1 && (s[0] == 'h' || s[0] == 'm' || s[0] == 's')) {
        *ms = s[0] == 'h' ? 3600u * MS_PER_S : s[0] == 'm' ? 60u * MS_PER_S : MS_PER_S;
        return 1;
    }
    return 0;
}

bool throttle_parse_duration(const char *s, size_t n, uint64_t max_ms, uint64_t *out_ms)
{
    /* Past this nothing is added, so no product below can overflow. */
    const uint64_t ceiling = UINT64_MAX / (3600u * MS_PER_S * 1000u);
    uint64_t total = 0;
    size_t i = 0;

    if (n == 0)
        return false;
    while (i < n) {
        uint64_t whole = 0, frac = 0, frac_div = 1, unit = MS_PER_S;
        size_t start = i, len;

        while (i < n && is_digit(s[i]) && whole <= ceiling)
            whole = whole * 10 + (uint64_t)(s[i++] - '0');
        if (whole > ceiling)
            return false;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && is_digit(s[i])) {
                if (frac_div < 1000000) {
                    frac = frac * 10 + (uint64_t)(s[i] - '0');
                    frac_div *= 10;
                }
                i++;
            }
        }
        if (i == start || (i - start == 1 && s[start] == '.'))
            return false;
        len = unit_ms(s + i, n - i, &unit);
        /* A bare number is seconds, and only on its own. */
        if (len == 0 && (start != 0 || i != n))
            return false;
        i += len;
        total += whole * unit + frac * unit / frac_div;
        if (total > max_ms)
            return false;
    }
    *out_ms = total;
    return true;
}

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int throttle_unhex(const struct logline_str *hex, char *out, size_t size)
{
    size_t n = hex->len / 2;

    if (hex->len % 2 || n > size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex->ptr[2 * i]), lo = hex_value(hex->ptr[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (char)(hi << 4 | lo);
    }
    return (int)n;
}

/* Field `i` decoded, without the spaces around it; false when absent or unreadable. */
static bool field_text(const struct logline_str *fields, enum logline_throttle_field i,
                       char buf[LOGLINE_THROTTLE_MAX_BYTES], size_t *len)
{
    int n = throttle_unhex(&fields[i], buf, LOGLINE_THROTTLE_MAX_BYTES);
    size_t a = 0, b;

    if (n <= 0)
        return false;
    b = (size_t)n;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t'))
        a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t'))
        b--;
    memmove(buf, buf + a, b - a);
    *len = b - a;
    return *len > 0;
}

uint64_t throttle_cooldown_ms(const struct conf_throttle *c, const struct logline_str *fields,
                              int64_t wall_ms)
{
    uint64_t max_ms = (uint64_t)c->retry_after_max_s * MS_PER_S, v;
    char buf[LOGLINE_THROTTLE_MAX_BYTES];
    int64_t date_s;
    size_t len;

    if (field_text(fields, LOGLINE_TH_RETRY_AFTER_MS, buf, &len) &&
        throttle_parse_count(buf, len, &v))
        return v < max_ms ? v : max_ms;
    if (field_text(fields, LOGLINE_TH_RETRY_AFTER, buf, &len)) {
        /* Too many digits is still a number: the longest wait there is. */
        if (all_digits(buf, len))
            return throttle_parse_count(buf, len, &v) && v < c->retry_after_max_s ? v * MS_PER_S
                                                                                  : max_ms;
        if (throttle_parse_http_date(buf, len, &date_s) && wall_ms >= 0 &&
            date_s > wall_ms / (int64_t)MS_PER_S) {
            uint64_t left = (uint64_t)(date_s * (int64_t)MS_PER_S - wall_ms);
            return left < max_ms ? left : max_ms;
        }
    }
    v = (uint64_t)c->retry_after_default_s * MS_PER_S;
    return v < max_ms ? v : max_ms;
}

void throttle_on_429(struct throttle *t, const struct conf_throttle *c,
                     const struct logline_str *fields, uint64_t now_ms, int64_t wall_ms)
{
    uint64_t until = now_ms + throttle_cooldown_ms(c, fields, wall_ms);

    t->throttled++;
    t->last_429_ms = now_ms;
    /* Two 429s in flight: the later answer does not shorten the earlier one's wait. */
    if (until > t->cooldown_until_ms)
        t->cooldown_until_ms = until;
}

/* One budget (requests or tokens): record it, and whether it is at or below its floor. */
static bool budget_low(const struct logline_str *fields, enum logline_throttle_field field,
                       uint32_t floor, bool *has, uint64_t *remaining, bool *said)
{
    char buf[LOGLINE_THROTTLE_MAX_BYTES];
    size_t len;
    uint64_t v;

    *said = field_text(fields, field, buf, &len) && throttle_parse_count(buf, len, &v);
    if (!*said)
        return false;
    *has = true;
    *remaining = v;
    return v <= floor;
}

/* When a low budget refills: its reset header, else the default wait. */
static uint64_t reset_ms(const struct conf_throttle *c, const struct logline_str *fields,
                         enum logline_throttle_field field)
{
    uint64_t max_ms = (uint64_t)c->retry_after_max_s * MS_PER_S, v;
    char buf[LOGLINE_THROTTLE_MAX_BYTES];
    size_t len;

    /* A reset further than the cap is capped, as a Retry-After is. */
    if (field_text(fields, field, buf, &len) &&
        throttle_parse_duration(buf, len, UINT64_MAX / 2, &v))
        return v < max_ms ? v : max_ms;
    v = (uint64_t)c->retry_after_default_s * MS_PER_S;
    return v < max_ms ? v : max_ms;
}

void throttle_on_response(struct throttle *t, const struct conf_throttle *c,
                          const struct logline_str *fields, uint64_t now_ms)
{
    bool said_requests, said_tokens;
    bool low_requests =
        budget_low(fields, LOGLINE_TH_REMAINING_REQUESTS, c->min_remaining_requests,
                   &t->has_remaining_requests, &t->remaining_requests, &said_requests);
    bool low_tokens = budget_low(fields, LOGLINE_TH_REMAINING_TOKENS, c->min_remaining_tokens,
                                 &t->has_remaining_tokens, &t->remaining_tokens, &said_tokens);
    uint64_t until = 0;

    if (!said_requests && !said_tokens)
        return; /* nothing said: what was known stands */
    if (low_requests)
        until = now_ms + reset_ms(c, fields, LOGLINE_TH_RESET_REQUESTS);
    if (low_tokens) {
        uint64_t tokens_until = now_ms + reset_ms(c, fields, LOGLINE_TH_RESET_TOKENS);
        if (tokens_until > until)
            until = tokens_until;
    }
    t->low_until_ms = until;
}

bool throttle_cooling(const struct throttle *t, uint64_t now_ms)
{
    return now_ms < t->cooldown_until_ms;
}

bool throttle_low(const struct throttle *t, uint64_t now_ms)
{
    return now_ms < t->low_until_ms;
}

uint64_t throttle_cooldown_left_ms(const struct throttle *t, uint64_t now_ms)
{
    return throttle_cooling(t, now_ms) ? t->cooldown_until_ms - now_ms : 0;
}
