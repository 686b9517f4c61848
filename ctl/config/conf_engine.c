#include <stdio.h>

#include "conf_diag.h"
#include "conf_engine.h"

void conf_engine_check(struct config *cfg, struct conf_diags *diags)
{
    char path[96];

    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct conf_group *grp = &cfg->groups[g];

        if (grp->engine.enabled && grp->strategy != BAL_LEAST_LOAD) {
            snprintf(path, sizeof(path), "upstream_groups[%zu].engine", g);
            conf_diag_add(diags, &grp->engine.pos, path,
                          "only balance.strategy least_load reads an engine's load; set it, "
                          "or remove engine");
        } else if (grp->strategy == BAL_LEAST_LOAD && !grp->engine.enabled) {
            snprintf(path, sizeof(path), "upstream_groups[%zu].balance.strategy", g);
            conf_diag_add(&cfg->warnings, &grp->pos, path,
                          "warning: least_load without an engine block compares requests in "
                          "flight only; add engine: {type: vllm} (or sglang)");
        }
        if (grp->strategy != BAL_LEAST_LOAD || !grp->engine.enabled)
            continue;
        for (size_t m = 0; m < grp->n_members; m++) {
            const struct conf_upstream *u = &cfg->upstreams[grp->members[m].upstream];

            if (!u->parsed.tls)
                continue;
            snprintf(path, sizeof(path), "upstream_groups[%zu].upstreams[%zu]", g, m);
            conf_diag_add(&cfg->warnings, &grp->members[m].pos, path,
                          "warning: %s is https; engine metrics are read over plain HTTP, so "
                          "its load is judged by requests in flight",
                          u->name ? u->name : "this upstream");
        }
    }
}
