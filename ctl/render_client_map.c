/*
 * The client maps: for each forward with client_auth, the SHA-256 of every key allowed on
 * it and its client's name, which HAProxy looks a presented key's hash up in. Hashes only:
 * the rendered files never hold a client's key.
 */
#include "config.h"
#include "render.h"

void render_client_map(const struct config *cfg, size_t forward, struct render_out *r)
{
    size_t c;

    for (c = 0; c < cfg->n_clients; c++)
        if (conf_client_allowed(cfg, c, forward))
            render_printf(r, "%s %s\n", cfg->clients[c].key_sha256, cfg->clients[c].name);
}
