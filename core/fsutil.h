/* core/fsutil.h: small file-system helpers shared by the roles and services. */
#ifndef CN_FSUTIL_H
#define CN_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: create path and any missing parents with mode (before umask).
 * Returns 0, or an errno value (ENAMETOOLONG past 4095 bytes). Existing
 * directories are fine; an existing non-directory fails with that errno. */
int cn_mkdirs(const char *path, mode_t mode);

#endif
