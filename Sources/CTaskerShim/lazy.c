// libarchive, libcrypto and libcurl, loaded when first used instead of when tasker starts.
//
// Linked normally, the three bring some forty shared libraries with them (TLS, Kerberos,
// LDAP, IDN, XML, ...), and mapping and relocating those was most of the start-up of every
// tasker command — including health_check, list and the run of a cached image, which never
// touch them. Each function tasker calls is defined here under its own name with the header's
// own prototype (so the compiler checks the signature) and forwards to the library, which is
// dlopen'ed on the first call.
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lazy_curl.h"
#include "tasker_shim.h"

// A library that cannot be loaded leaves tasker unable to do what was asked; there is no
// error path through these prototypes, so say why and stop.
static void *open_library(const char *const *names) {
  for (const char *const *name = names; *name; name++) {
    void *handle = dlopen(*name, RTLD_NOW | RTLD_LOCAL);
    if (handle) return handle;
  }
  dprintf(STDERR_FILENO, "tasker: cannot load %s: %s\n", names[0], dlerror());
  _exit(125);
}

static void *symbol(void *handle, const char *name) {
  void *address = dlsym(handle, name);
  if (address == NULL) {
    dprintf(STDERR_FILENO, "tasker: missing symbol %s: %s\n", name, dlerror());
    _exit(125);
  }
  return address;
}

static void *archive_handle, *crypto_handle;
static pthread_once_t archive_once = PTHREAD_ONCE_INIT, crypto_once = PTHREAD_ONCE_INIT;
static void load_archive(void) {
  static const char *const names[] = {"libarchive.so.13", "libarchive.so", NULL};
  archive_handle = open_library(names);
}
static void load_crypto(void) {
  static const char *const names[] = {"libcrypto.so.3", "libcrypto.so", NULL};
  crypto_handle = open_library(names);
}

void tasker_load_archive(void) { pthread_once(&archive_once, load_archive); }
void tasker_load_crypto(void) { pthread_once(&crypto_once, load_crypto); }

#define FORWARD(library, ret, name, params, args)                           \
  ret name params {                                                         \
    static ret(*volatile target) params;                                    \
    if (target == NULL) {                                                   \
      pthread_once(&library##_once, load_##library);                        \
      target = (ret(*) params)symbol(library##_handle, #name);             \
    }                                                                       \
    return target args;                                                     \
  }

FORWARD(archive, struct archive *, archive_read_new, (void), ())
FORWARD(archive, int, archive_read_free, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_format_tar, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_format_gnutar, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_filter_gzip, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_filter_bzip2, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_filter_xz, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_filter_zstd, (struct archive * a), (a))
FORWARD(archive, int, archive_read_support_format_raw, (struct archive * a), (a))
FORWARD(archive, la_ssize_t, archive_read_data, (struct archive * a, void *buffer, size_t size), (a, buffer, size))
FORWARD(archive, int, archive_read_open,
        (struct archive * a, void *data, archive_open_callback *open, archive_read_callback *read,
         archive_close_callback *close),
        (a, data, open, read, close))
// The oci-archive and docker-archive member index (TaskerImage/Layout/TarMembers.swift): a
// tar opened on its descriptor so that skipping a member's data is an lseek, and the position
// after a header, where the member's data begins.
FORWARD(archive, int, archive_read_open_fd, (struct archive * a, int fd, size_t block_size), (a, fd, block_size))
FORWARD(archive, la_int64_t, archive_filter_bytes, (struct archive * a, int n), (a, n))
FORWARD(archive, int, archive_read_data_skip, (struct archive * a), (a))
FORWARD(archive, int, archive_read_next_header, (struct archive * a, struct archive_entry **entry),
        (a, entry))
FORWARD(archive, int, archive_read_data_block,
        (struct archive * a, const void **buffer, size_t *size, la_int64_t *offset),
        (a, buffer, size, offset))
FORWARD(archive, const char *, archive_error_string, (struct archive * a), (a))
FORWARD(archive, time_t, archive_entry_atime, (struct archive_entry * e), (e))
FORWARD(archive, long, archive_entry_atime_nsec, (struct archive_entry * e), (e))
FORWARD(archive, int, archive_entry_atime_is_set, (struct archive_entry * e), (e))
FORWARD(archive, time_t, archive_entry_mtime, (struct archive_entry * e), (e))
FORWARD(archive, long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))
FORWARD(archive, __LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))
FORWARD(archive, __LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))
FORWARD(archive, la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))
FORWARD(archive, la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))
FORWARD(archive, la_int64_t, archive_entry_size, (struct archive_entry * e), (e))
FORWARD(archive, const char *, archive_entry_pathname, (struct archive_entry * e), (e))
FORWARD(archive, const char *, archive_entry_hardlink, (struct archive_entry * e), (e))
FORWARD(archive, const char *, archive_entry_symlink, (struct archive_entry * e), (e))
FORWARD(archive, int, archive_entry_xattr_reset, (struct archive_entry * e), (e))
FORWARD(archive, int, archive_entry_xattr_next,
        (struct archive_entry * e, const char **name, const void **value, size_t *size),
        (e, name, value, size))

#define FORWARD_VOID(library, name, params, args)                           \
  void name params {                                                        \
    static void(*volatile target) params;                                   \
    if (target == NULL) {                                                   \
      pthread_once(&library##_once, load_##library);                        \
      target = (void(*) params)symbol(library##_handle, #name);            \
    }                                                                       \
    target args;                                                            \
  }

// The writer, for `tasker export`.
FORWARD(archive, struct archive *, archive_write_new, (void), ())
FORWARD(archive, int, archive_write_free, (struct archive * a), (a))
FORWARD(archive, int, archive_write_close, (struct archive * a), (a))
FORWARD(archive, int, archive_write_set_format_pax_restricted, (struct archive * a), (a))
FORWARD(archive, int, archive_write_open_fd, (struct archive * a, int fd), (a, fd))
FORWARD(archive, int, archive_write_header, (struct archive * a, struct archive_entry *e), (a, e))
FORWARD(archive, la_ssize_t, archive_write_data, (struct archive * a, const void *buffer, size_t size),
        (a, buffer, size))
FORWARD(archive, struct archive_entry *, archive_entry_new, (void), ())
FORWARD_VOID(archive, archive_entry_free, (struct archive_entry * e), (e))
FORWARD_VOID(archive, archive_entry_set_pathname, (struct archive_entry * e, const char *name), (e, name))
FORWARD_VOID(archive, archive_entry_set_filetype, (struct archive_entry * e, unsigned int type), (e, type))
FORWARD_VOID(archive, archive_entry_set_perm, (struct archive_entry * e, __LA_MODE_T mode), (e, mode))
FORWARD_VOID(archive, archive_entry_set_uid, (struct archive_entry * e, la_int64_t uid), (e, uid))
FORWARD_VOID(archive, archive_entry_set_gid, (struct archive_entry * e, la_int64_t gid), (e, gid))
FORWARD_VOID(archive, archive_entry_set_size, (struct archive_entry * e, la_int64_t size), (e, size))
FORWARD_VOID(archive, archive_entry_set_mtime, (struct archive_entry * e, time_t t, long ns), (e, t, ns))
FORWARD_VOID(archive, archive_entry_set_symlink, (struct archive_entry * e, const char *link), (e, link))
FORWARD_VOID(archive, archive_entry_set_hardlink, (struct archive_entry * e, const char *link), (e, link))
FORWARD_VOID(archive, archive_entry_set_rdevmajor, (struct archive_entry * e, dev_t major), (e, major))
FORWARD_VOID(archive, archive_entry_set_rdevminor, (struct archive_entry * e, dev_t minor), (e, minor))
FORWARD_VOID(archive, archive_entry_sparse_add_entry, (struct archive_entry * e, la_int64_t offset, la_int64_t length),
             (e, offset, length))
FORWARD_VOID(archive, archive_entry_xattr_add_entry,
        (struct archive_entry * e, const char *name, const void *value, size_t size), (e, name, value, size))

FORWARD(crypto, EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
FORWARD(crypto, void, EVP_MD_CTX_free, (EVP_MD_CTX * c), (c))
FORWARD(crypto, const EVP_MD *, EVP_sha256, (void), ())
FORWARD(crypto, int, EVP_DigestInit_ex, (EVP_MD_CTX * c, const EVP_MD *t, ENGINE *e), (c, t, e))
FORWARD(crypto, int, EVP_DigestUpdate, (EVP_MD_CTX * c, const void *d, size_t n), (c, d, n))
FORWARD(crypto, int, EVP_DigestFinal_ex, (EVP_MD_CTX * c, unsigned char *md, unsigned int *s),
        (c, md, s))
FORWARD(crypto, int, EVP_MD_CTX_copy_ex, (EVP_MD_CTX * out, const EVP_MD_CTX *in), (out, in))

// libcurl is called from C only (shim.c), through these pointers.
struct tasker_curl tasker_curl;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void load_curl(void) {
  static const char *const names[] = {"libcurl.so.4", "libcurl.so", NULL};
  void *handle = open_library(names);
  tasker_curl.global_init = symbol(handle, "curl_global_init");
  tasker_curl.easy_init = symbol(handle, "curl_easy_init");
  tasker_curl.easy_setopt = symbol(handle, "curl_easy_setopt");
  tasker_curl.easy_perform = symbol(handle, "curl_easy_perform");
  tasker_curl.easy_getinfo = symbol(handle, "curl_easy_getinfo");
  tasker_curl.easy_strerror = symbol(handle, "curl_easy_strerror");
  tasker_curl.easy_cleanup = symbol(handle, "curl_easy_cleanup");
  tasker_curl.slist_append = symbol(handle, "curl_slist_append");
  tasker_curl.slist_free_all = symbol(handle, "curl_slist_free_all");
  tasker_curl.global_init(CURL_GLOBAL_DEFAULT);
}

void tasker_load_curl(void) { pthread_once(&curl_once, load_curl); }
