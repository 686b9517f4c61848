/*
 * llmproxy-ctl key: make client API keys and hash them.
 *
 *   key new [--name N]   a fresh random key, and the `clients` entry that holds only its
 *                        SHA-256, so that the key itself need never be on disk
 *   key hash             the SHA-256 of a key read from standard input (never from the
 *                        command line, where other users see it in the process list)
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "conf_client_key.h"
#include "conf_walk.h"
#include "ctl.h"
#include "render.h"

/* What a generated key starts with: recognisable in a leak, as providers' "sk-" are. */
#define KEY_PREFIX "llmp-"

/* 256 random bits: a leaked map of unsalted hashes then gives nothing to brute-force. */
#define KEY_RANDOM_BYTES 32

/* The longest standard input `key hash` reads: a valid key and its newline, and a byte
 * more to tell a longer one. */
#define KEY_INPUT_MAX (CONF_CLIENT_KEY_MAX + 3)

/* KEY_PREFIX and base64url without padding: only characters every key header carries. */
static int new_key(char *out, size_t size)
{
    unsigned char raw[KEY_RANDOM_BYTES];
    char b64[(KEY_RANDOM_BYTES + 2) / 3 * 4 + 1];
    size_t i, n = 0;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    render_base64(raw, sizeof(raw), b64);
    for (i = 0; b64[i] && b64[i] != '='; i++)
        b64[n++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    b64[n] = '\0';
    snprintf(out, size, KEY_PREFIX "%s", b64);
    memset(raw, 0, sizeof(raw));
    return 0;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static int key_new(const struct ctl_cmd *cmd, int argc, char **argv)
{
    char key[sizeof(KEY_PREFIX) + (KEY_RANDOM_BYTES + 2) / 3 * 4], hash[CONF_SHA256_HEX_SIZE];
    const char *name = NULL;
    int i;

    /* One option: too few for getopt's machinery. */
    for (i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            ctl_print_usage(cmd, stdout);
            return CTL_EXIT_OK;
        } else if (strncmp(argv[i], "--name=", 7) == 0) {
            name = argv[i] + 7;
        } else if (strcmp(argv[i], "-n") != 0 && strcmp(argv[i], "--name") != 0) {
            return ctl_usage_error(cmd, "unexpected argument", argv[i]);
        } else if (++i < argc) {
            name = argv[i];
        } else {
            return ctl_usage_error(cmd, "option needs an argument:", argv[i - 1]);
        }
    }
    if (name && !conf_valid_name(name))
        return ctl_usage_error(cmd,
                               "invalid client name (1-48 letters, digits, '_', '.', '-'):", name);
    if (new_key(key, sizeof(key)) < 0 || conf_sha256_hex(key, strlen(key), hash) < 0) {
        fprintf(stderr, "llmproxy-ctl key new: OpenSSL failed to make a key\n");
        return CTL_EXIT_INVALID;
    }
    printf("%s\n"
           "# Give the key above to the client: it is shown only now. The configuration\n"
           "# needs only its hash, under clients:\n",
           key);
    if (name)
        printf("- name: %s\n  key_sha256: \"%s\"\n", name, hash);
    else
        printf("key_sha256: \"%s\"\n", hash);
    memset(key, 0, sizeof(key));
    return CTL_EXIT_OK;
}

static int key_hash(const struct ctl_cmd *cmd, int argc, char **argv)
{
    char buf[KEY_INPUT_MAX + 1], hash[CONF_SHA256_HEX_SIZE];
    size_t n;

    if (argc > 1 && is_help(argv[1])) {
        ctl_print_usage(cmd, stdout);
        return CTL_EXIT_OK;
    }
    if (argc > 1)
        return ctl_usage_error(cmd, "unexpected argument (the key is read from standard input)",
                               argv[1]);
    n = fread(buf, 1, KEY_INPUT_MAX, stdin);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (!conf_client_key_valid(buf, n) || strlen(buf) != n) {
        fprintf(stderr,
                "llmproxy-ctl key hash: not a client key: %zu characters; a key needs %d to %d "
                "of " CONF_CLIENT_KEY_CHARS ", on one line\n",
                n, CONF_CLIENT_KEY_MIN, CONF_CLIENT_KEY_MAX);
        memset(buf, 0, sizeof(buf));
        return CTL_EXIT_INVALID;
    }
    if (conf_sha256_hex(buf, n, hash) < 0) {
        fprintf(stderr, "llmproxy-ctl key hash: OpenSSL failed to hash the key\n");
        return CTL_EXIT_INVALID;
    }
    memset(buf, 0, sizeof(buf));
    printf("%s\n", hash);
    return CTL_EXIT_OK;
}

static int run_key(const struct ctl_cmd *cmd, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage_error(cmd, "missing new or hash", NULL);
    if (strcmp(argv[1], "new") == 0)
        return key_new(cmd, argc - 1, argv + 1);
    if (strcmp(argv[1], "hash") == 0)
        return key_hash(cmd, argc - 1, argv + 1);
    if (is_help(argv[1])) {
        ctl_print_usage(cmd, stdout);
        return CTL_EXIT_OK;
    }
    return ctl_usage_error(cmd, "unknown key command", argv[1]);
}

const struct ctl_cmd ctl_cmd_key = {
    .name = "key",
    .summary = "make a client API key (new) or hash one (hash)",
    .usage = "usage: llmproxy-ctl key new [--name NAME]\n"
             "       llmproxy-ctl key hash < KEYFILE\n"
             "\n"
             "new: print a fresh random key (" KEY_PREFIX " and 256 random bits, base64url),\n"
             "then the clients entry for it, which holds only the key's SHA-256 (key_sha256),\n"
             "with NAME as its name when given. The key is not stored anywhere: hand it to\n"
             "the client now.\n"
             "hash: read one key from standard input (a trailing newline is ignored) and\n"
             "print its SHA-256 in lowercase hex, for key_sha256. The key must be one the\n"
             "configuration accepts: 16-512 of " CONF_CLIENT_KEY_CHARS ".\n"
             "Exits 0 on success, 1 on an invalid key, 2 on a usage error.\n"
             "\n"
             "options:\n"
             "  -n, --name NAME     (new) the client's name in the printed entry\n"
             "  -h, --help          show this help\n",
    .run = run_key,
};
