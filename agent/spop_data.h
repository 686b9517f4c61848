/* SPOP typed data: <type:4 bits><flags:4 bits> then the value.
 *
 * Decoding returns views into the input (nothing is copied or allocated). Encoding goes
 * through a struct spop_writer, so it can never overflow.
 */
#ifndef LLMPROXY_SPOP_DATA_H
#define LLMPROXY_SPOP_DATA_H

#include "spop-t.h"

/* Decodes a STRING without type byte (varint length + bytes) at *pos. On success advances
 * *pos; on error (SPOP_ERR_TRUNCATED, SPOP_ERR_VARINT) leaves it untouched.
 */
enum spop_err spop_str_decode(const uint8_t **pos, const uint8_t *end, struct spop_str *out);

/* Decodes one typed value at *pos. On success advances *pos; on error leaves it untouched
 * and returns SPOP_ERR_TRUNCATED, SPOP_ERR_VARINT or SPOP_ERR_DATA_TYPE (reserved type).
 */
enum spop_err spop_data_decode(const uint8_t **pos, const uint8_t *end, struct spop_data *out);

/* Appends d as typed data. Strings are written with no flag bits: HAProxy turns a STRING
 * with flags into a binary sample.
 */
void spop_put_data(struct spop_writer *w, struct spop_data d);

/* True for the four integer types, whose value is then in u64 / i64. */
bool spop_data_is_int(const struct spop_data *d);

/* True when s holds exactly the bytes of the C string cstr. */
bool spop_str_eq(struct spop_str s, const char *cstr);

/* Values to encode. Pointers are kept, not copied: they must outlive the spop_put_data. */
struct spop_data spop_data_null(void);
struct spop_data spop_data_bool(bool v);
struct spop_data spop_data_int32(int32_t v);
struct spop_data spop_data_uint32(uint32_t v);
struct spop_data spop_data_int64(int64_t v);
struct spop_data spop_data_uint64(uint64_t v);
struct spop_data spop_data_ipv4(const uint8_t addr[4]);
struct spop_data spop_data_ipv6(const uint8_t addr[16]);
struct spop_data spop_data_str(const char *s, size_t len);
struct spop_data spop_data_bin(const void *bytes, size_t len);

#endif /* LLMPROXY_SPOP_DATA_H */
