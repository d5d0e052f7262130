/* core/fsutil.c: file-system helpers (see fsutil.h). */
#include "core/fsutil.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int cn_mkdirs(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof tmp)
		return ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char saved = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return errno;
		tmp[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}
