#include <stdio.h>

#include "conf_haproxy_version.h"
#include "haproxy_check.h"
#include "haproxy_target.h"

/* The release lines `make test` runs the integration suite against. */
static const struct conf_haproxy_version tested[] = {{2, 6}, {3, 0}, {3, 2}};

static bool at_least(struct conf_haproxy_version v, unsigned major, unsigned minor)
{
    return conf_haproxy_version_cmp(v, (struct conf_haproxy_version){major, minor}) >= 0;
}

struct haproxy_target haproxy_target_of(struct conf_haproxy_version v)
{
    if (!conf_haproxy_version_known(v))
        v = CONF_HAPROXY_OLDEST;
    return (struct haproxy_target){
        .version = v,
        .spop_mode = at_least(v, 3, 1),
        .ring_tcp_only = at_least(v, 3, 3),
        .bind_threads_to_cpus = true,
        .retry_on_429 = at_least(v, 3, 1),
        .memory_hot_size = at_least(v, 3, 0),
    };
}

bool haproxy_target_tested(struct conf_haproxy_version v)
{
    for (size_t i = 0; i < sizeof(tested) / sizeof(tested[0]); i++)
        if (conf_haproxy_version_cmp(v, tested[i]) == 0)
            return true;
    return false;
}

/* "2.6, 3.0, 3.2" */
static const char *tested_list(char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(tested) / sizeof(tested[0]) && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%u.%u", i ? ", " : "", tested[i].major,
                                tested[i].minor);
    return buf;
}

struct haproxy_target haproxy_target_resolve(const struct config *cfg, const char *who)
{
    struct conf_haproxy_version v = cfg->haproxy.target, oldest = CONF_HAPROXY_OLDEST;
    char list[64];

    if (!conf_haproxy_version_known(v) && haproxy_binary_version(who, &v) < 0) {
        fprintf(stderr,
                "%s: warning: rendering for HAProxy %u.%u, whose files the newer tested "
                "releases load too; set haproxy.version to the release that will load them\n",
                who, oldest.major, oldest.minor);
        v = oldest;
    } else if (conf_haproxy_version_cmp(v, oldest) < 0) {
        fprintf(stderr,
                "%s: warning: HAProxy %u.%u is older than %u.%u, the oldest release "
                "LLMProxy renders for: rendering for %u.%u, which it may refuse\n",
                who, v.major, v.minor, oldest.major, oldest.minor, oldest.major, oldest.minor);
        v = oldest;
    } else if (!haproxy_target_tested(v)) {
        fprintf(stderr,
                "%s: warning: HAProxy %u.%u is not among the releases LLMProxy is tested "
                "with (%s); rendering for it anyway\n",
                who, v.major, v.minor, tested_list(list, sizeof(list)));
    }
    return haproxy_target_of(v);
}
