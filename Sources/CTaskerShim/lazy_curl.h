// libcurl through pointers filled on first use (see lazy.c).
#ifndef TASKER_LAZY_CURL_H
#define TASKER_LAZY_CURL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

struct tasker_curl {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
  CURLcode (*easy_perform)(CURL *curl);
  CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
  const char *(*easy_strerror)(CURLcode code);
  void (*easy_cleanup)(CURL *curl);
  struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
  void (*slist_free_all)(struct curl_slist *list);
};

extern struct tasker_curl tasker_curl;

/// Loads libcurl (once) and fills `tasker_curl`.
void tasker_load_curl(void);

#endif
