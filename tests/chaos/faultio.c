/* faultio.c - an LD_PRELOAD library of the tests' own that makes a synod
 * node's disk fail: there is no dm-flakey or fault-injecting filesystem
 * on these machines (docs/reliability.md 6).
 *
 * SYNOD_FAULTIO_DIR=D: only files under D are touched (a node's
 * data_dir/raft). SYNOD_FAULTIO_CTL=F: the mode is F's first word, read
 * again whenever F changes (no file: no fault):
 *
 *   eio   every write to a file under D fails with EIO, as a failing
 *         disk's do: libraft's segment writes (io_submit) are accepted and
 *         complete with -EIO (io_getevents, and their eventfd is
 *         signalled), as the kernel reports a device error; write, pwrite,
 *         pwritev, fsync and fdatasync (libuv's file calls) return EIO.
 *   eio-segments  the same for libraft's segment writes only (io_submit
 *         to open-N files): term, vote and snapshot files still write.
 *   eio-snapshots  the same for the files of snapshots only: libraft
 *         writes each to an unnamed O_TMPFILE file, then links it (this
 *         matches any unlinked file still open under D, and snapshot-*
 *         files); its segment, term and vote writes still work.
 *   enospc-segments  segment writes complete with -ENOSPC, and
 *         allocating a file under D (posix_fallocate, fallocate) fails
 *         with ENOSPC: a log that finds no room (on a filesystem that
 *         can run out under an allocated file: thin provisioning,
 *         copy-on-write).
 *   enospc-snapshots  as eio-snapshots, but with ENOSPC: a disk that
 *         fills while a snapshot is written (its log's segments are
 *         allocated ahead and still write).
 *   eio-reads  reads of files under D fail with EIO (read, pread,
 *         preadv): a disk whose sectors cannot be read.
 *   eio-log-reads  the same for the log's segments only (open-N and
 *         closed ones, 0000000000000001-...): term and vote still read.
 *   eio-snapshot-link  naming a snapshot's files (linkat to
 *         D/snapshot-*; its .meta file is named first) fails with EIO:
 *         the last steps of a save, after its data was written;
 *         libraft drops such a save (an installation from the leader
 *         would leave the follower deaf; synod stops instead:
 *         reliability.md 5.15).
 *   stall segment writes are accepted and held, not done, until the mode
 *         is something else (checked every 50 ms): a disk that hangs.
 *   stall-snapshots  writes and syncs of snapshot files (as for
 *         eio-snapshots) block until the mode is something else: a save
 *         that does not end while the log still writes.
 *   torn  the next segment write (io_submit to an open-N file) whose new
 *         data crosses a 512-byte sector boundary is torn as a crash tears
 *         it: only the sectors before that boundary reach the file, then
 *         the process kills itself with SIGKILL. It was never
 *         acknowledged. (Writes are watched in every mode to know where
 *         each file's new data starts: libraft rewrites a block's older
 *         bytes with each write.)
 *
 * Not for production: test builds only, never installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/aio_abi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum mode {
	NONE,
	EIO_ALL,
	EIO_SEGMENTS,
	EIO_SNAPSHOTS,
	ENOSPC_SEGMENTS,
	ENOSPC_SNAPSHOTS,
	EIO_READS,
	EIO_LOG_READS,
	STALL,
	STALL_SNAPSHOTS,
	EIO_SNAPSHOT_LINK,
	TORN
};

static pthread_mutex_t mode_lock = PTHREAD_MUTEX_INITIALIZER;

/* The mode a control file's first word names (NONE: none). */
static enum mode mode_named(const char *text)
{
	static const struct {
		const char *word;
		enum mode mode;
	} modes[] = {
	    {"eio", EIO_ALL},
	    {"eio-segments", EIO_SEGMENTS},
	    {"eio-snapshots", EIO_SNAPSHOTS},
	    {"enospc-segments", ENOSPC_SEGMENTS},
	    {"enospc-snapshots", ENOSPC_SNAPSHOTS},
	    {"eio-reads", EIO_READS},
	    {"eio-log-reads", EIO_LOG_READS},
	    {"stall", STALL},
	    {"stall-snapshots", STALL_SNAPSHOTS},
	    {"eio-snapshot-link", EIO_SNAPSHOT_LINK},
	    {"torn", TORN},
	};
	size_t len = strcspn(text, " \t\r\n");
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strlen(modes[i].word) == len &&
		    strncmp(text, modes[i].word, len) == 0)
			return modes[i].mode;
	return NONE;
}

/* The mode, from the control file: looked at again at most every 10 ms
 * (every read and write of the process asks), read with raw system calls
 * (read is interposed below). */
static enum mode mode_now(void)
{
	static _Atomic int cached = NONE;
	static _Atomic long long next_ms;
	static struct timespec seen;
	static int have;
	const char *ctl = getenv("SYNOD_FAULTIO_CTL");
	struct timespec now;
	struct stat st;
	char word[32] = {0};
	long long ms;
	int fd;
	if (ctl == NULL)
		return NONE;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (ms < next_ms || pthread_mutex_trylock(&mode_lock) != 0)
		return (enum mode)cached;
	next_ms = ms + 10;
	if (stat(ctl, &st) != 0) {
		cached = NONE;
		have = 0;
	} else if (!have || st.st_mtim.tv_sec != seen.tv_sec ||
		   st.st_mtim.tv_nsec != seen.tv_nsec) {
		fd = (int)syscall(SYS_openat, AT_FDCWD, ctl,
				  O_RDONLY | O_CLOEXEC, 0);
		if (fd >= 0) {
			if (syscall(SYS_read, fd, word, sizeof word - 1) < 0)
				word[0] = '\0';
			syscall(SYS_close, fd);
		}
		cached = mode_named(word);
		seen = st.st_mtim;
		have = 1;
	}
	pthread_mutex_unlock(&mode_lock);
	return (enum mode)cached;
}

/* Whether fd is a file under SYNOD_FAULTIO_DIR (and its name has part,
 * when part is not NULL). */
static int fd_is_ours(int fd, const char *part)
{
	const char *dir = getenv("SYNOD_FAULTIO_DIR");
	char link[64], path[4096];
	ssize_t n;
	if (dir == NULL || dir[0] == '\0' || fd < 0)
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	if (strncmp(path, dir, strlen(dir)) != 0)
		return 0;
	return part == NULL || strstr(path + strlen(dir), part) != NULL;
}

/* libraft writes a snapshot to an unnamed O_TMPFILE file, then links
 * it: any unlinked file still open under D, and snapshot-* files. */
static int is_snapshot(int fd)
{
	return fd_is_ours(fd, "(deleted)") || fd_is_ours(fd, "/snapshot-");
}

/* The errno a write or sync of fd fails with (0: it does not fail); in
 * stall-snapshots mode, one to a snapshot file first waits for the mode
 * to change (libraft writes them on its worker threads). */
static int fails(int fd)
{
	enum mode m = mode_now();
	if (m == STALL_SNAPSHOTS && is_snapshot(fd)) {
		while (mode_now() == STALL_SNAPSHOTS)
			usleep(20000);
		m = mode_now();
	}
	if ((m == EIO_ALL && fd_is_ours(fd, NULL)) ||
	    (m == EIO_SNAPSHOTS && is_snapshot(fd)))
		return EIO;
	if (m == ENOSPC_SNAPSHOTS && is_snapshot(fd))
		return ENOSPC;
	return 0;
}

/* Whether reads of fd fail (segments are named open-N or N-M). */
static int reads_fail(int fd)
{
	enum mode m = mode_now();
	return (m == EIO_READS && fd_is_ours(fd, NULL)) ||
	       (m == EIO_LOG_READS &&
		(fd_is_ours(fd, "/open-") || fd_is_ours(fd, "/0")) &&
		!fd_is_ours(fd, ".meta"));
}

/* Segment files are opened with O_DIRECT where the filesystem has it:
 * buffers aligned to 4096 bytes. */
static char *aligned(size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, len ? len : 1) != 0)
		return NULL;
	return p;
}

/* The bytes of one write request, gathered (aligned). */
static size_t gather(const struct iocb *cb, char **out)
{
	size_t len = 0;
	char *buf;
	if (cb->aio_lio_opcode == IOCB_CMD_PWRITE) {
		len = cb->aio_nbytes;
		buf = aligned(len);
		if (buf != NULL)
			memcpy(buf, (const void *)(uintptr_t)cb->aio_buf, len);
	} else {
		const struct iovec *iov =
		    (const struct iovec *)(uintptr_t)cb->aio_buf;
		for (size_t i = 0; i < cb->aio_nbytes; i++)
			len += iov[i].iov_len;
		buf = aligned(len);
		if (buf != NULL)
			for (size_t i = 0, at = 0; i < cb->aio_nbytes; i++) {
				memcpy(buf + at, iov[i].iov_base,
				       iov[i].iov_len);
				at += iov[i].iov_len;
			}
	}
	*out = buf;
	return buf != NULL ? len : 0;
}

/* How far each segment file (by inode) holds data, from the writes seen:
 * libraft rewrites a block's older bytes with each write, so a write's
 * new data starts there. */
static struct {
	dev_t dev;
	ino_t ino;
	uint64_t end;
} ends[64];
static int next_end;
static pthread_mutex_t ends_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t *end_of(const struct stat *st)
{
	for (int i = 0; i < (int)(sizeof ends / sizeof ends[0]); i++)
		if (ends[i].ino == st->st_ino && ends[i].dev == st->st_dev)
			return &ends[i].end;
	next_end = (next_end + 1) % (int)(sizeof ends / sizeof ends[0]);
	ends[next_end].dev = st->st_dev;
	ends[next_end].ino = st->st_ino;
	ends[next_end].end = 0;
	return &ends[next_end].end;
}

/* A segment write: in torn mode, when its new data crosses a sector
 * boundary, only the sectors before that boundary reach the file and the
 * process dies (a crash in the middle of the write); otherwise noted. */
static void segment_write(const struct iocb *cb, int torn)
{
	char *buf;
	size_t len = gather(cb, &buf), nz = len;
	uint64_t off = cb->aio_offset, start, cut, *end;
	struct stat st;
	if (buf == NULL || fstat((int)cb->aio_fildes, &st) != 0) {
		free(buf);
		return;
	}
	while (nz > 0 && buf[nz - 1] == 0)
		nz--;
	pthread_mutex_lock(&ends_lock);
	end = end_of(&st);
	start = *end > off ? *end : off;
	cut = (start / 512 + 1) * 512;
	if (!torn || cut >= off + nz) {
		if (off + nz > *end)
			*end = off + nz;
		pthread_mutex_unlock(&ends_lock);
		free(buf);
		return;
	}
	if (pwrite((int)cb->aio_fildes, buf, cut - off, (off_t)off) < 0)
		cut = off;
	fdatasync((int)cb->aio_fildes);
	fprintf(stderr,
		"faultio: tore a write of %zu bytes at %llu (new data from "
		"%llu to %llu): only %llu bytes written; killing the process\n",
		len, (unsigned long long)off, (unsigned long long)start,
		(unsigned long long)(off + nz),
		(unsigned long long)(cut - off));
	kill(getpid(), SIGKILL);
	abort();
}

typedef long (*syscall_fn)(long, ...);
static syscall_fn real_syscall;

/* Writes held in stall mode, submitted for real when it ends. */
static struct {
	aio_context_t ctx;
	struct iocb *cb;
} held[256];
static int n_held;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t release_once = PTHREAD_ONCE_INIT;

static void *release_loop(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(50000);
		if (mode_now() == STALL)
			continue;
		pthread_mutex_lock(&held_lock);
		for (int i = 0; i < n_held; i++)
			real_syscall(SYS_io_submit, held[i].ctx, 1L,
				     &held[i].cb);
		n_held = 0;
		pthread_mutex_unlock(&held_lock);
	}
	return NULL;
}

static void start_release(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, release_loop, NULL) == 0)
		pthread_detach(t);
}

static int hold(aio_context_t ctx, struct iocb *cb)
{
	pthread_once(&release_once, start_release);
	pthread_mutex_lock(&held_lock);
	if (n_held == (int)(sizeof held / sizeof held[0])) {
		pthread_mutex_unlock(&held_lock);
		return -1;
	}
	held[n_held].ctx = ctx;
	held[n_held].cb = cb;
	n_held++;
	pthread_mutex_unlock(&held_lock);
	return 0;
}

/* Completions of writes failed in eio and enospc modes, waiting for
 * io_getevents. */
static struct {
	aio_context_t ctx;
	struct io_event ev;
} fake[256];
static int n_fake;
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

static int fail_later(aio_context_t ctx, const struct iocb *cb, int err)
{
	uint64_t one = 1;
	pthread_mutex_lock(&fake_lock);
	if (n_fake == (int)(sizeof fake / sizeof fake[0])) {
		pthread_mutex_unlock(&fake_lock);
		return -1;
	}
	fake[n_fake].ctx = ctx;
	fake[n_fake].ev.data = cb->aio_data;
	fake[n_fake].ev.obj = (uint64_t)(uintptr_t)cb;
	fake[n_fake].ev.res = -err;
	fake[n_fake].ev.res2 = 0;
	n_fake++;
	pthread_mutex_unlock(&fake_lock);
	if (cb->aio_flags & IOCB_FLAG_RESFD)
		if (write((int)cb->aio_resfd, &one, sizeof one) < 0)
			return 0;
	return 0;
}

static long take_failed(aio_context_t ctx, long max, struct io_event *out)
{
	long n = 0;
	pthread_mutex_lock(&fake_lock);
	for (int i = 0; i < n_fake && n < max;) {
		if (fake[i].ctx != ctx) {
			i++;
			continue;
		}
		out[n++] = fake[i].ev;
		memmove(&fake[i], &fake[i + 1],
			(size_t)(n_fake - i - 1) * sizeof fake[0]);
		n_fake--;
	}
	pthread_mutex_unlock(&fake_lock);
	return n;
}

long syscall(long number, ...)
{
	syscall_fn real;
	va_list ap;
	long a[6];
	int err;
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (real_syscall == NULL)
		real_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	real = real_syscall;
	if (number == SYS_io_getevents && n_fake > 0) {
		struct io_event *ev = (struct io_event *)a[3];
		long got = take_failed((aio_context_t)a[0], a[2], ev);
		if (got > 0 && got >= a[1])
			return got;
		if (got > 0) {
			long more = real(number, a[0], a[1] - got, a[2] - got,
					 ev + got, a[4]);
			return more < 0 ? got : got + more;
		}
	}
	/* libuv may write and read several buffers at an offset through
	 * these rather than through pwritev and preadv. */
	if (number == SYS_pwritev && (err = fails((int)a[0])) != 0) {
		errno = err;
		return -1;
	}
	if (number == SYS_preadv && reads_fail((int)a[0])) {
		errno = EIO;
		return -1;
	}
	if (number == SYS_io_submit && a[1] == 1) {
		enum mode m = mode_now();
		struct iocb *cb = ((struct iocb **)a[2])[0];
		int w = cb->aio_lio_opcode == IOCB_CMD_PWRITE ||
			cb->aio_lio_opcode == IOCB_CMD_PWRITEV;
		if (w &&
		    ((m == EIO_ALL && fd_is_ours((int)cb->aio_fildes, NULL)) ||
		     (m == EIO_SEGMENTS &&
		      fd_is_ours((int)cb->aio_fildes, "/open-"))) &&
		    fail_later((aio_context_t)a[0], cb, EIO) == 0)
			return 1;
		if (w && m == ENOSPC_SEGMENTS &&
		    fd_is_ours((int)cb->aio_fildes, "/open-") &&
		    fail_later((aio_context_t)a[0], cb, ENOSPC) == 0)
			return 1;
		if (w && m == STALL &&
		    fd_is_ours((int)cb->aio_fildes, "/open-") &&
		    hold((aio_context_t)a[0], cb) == 0)
			return 1;
		if (w && fd_is_ours((int)cb->aio_fildes, "/open-"))
			segment_write(cb, m == TORN);
	}
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*sync_fn)(int);

#define REAL(name, type)                                                       \
	static type real_;                                                     \
	if (real_ == NULL)                                                     \
	real_ = (type)dlsym(RTLD_NEXT, name)

/* In an interposer: return -1 with EIO when the fault says so
 * (reads_fail(fd) for reads), or with the errno a write's fails(fd)
 * gives. */
#define EIO_WHEN(failing) ERRNO_WHEN((failing) ? EIO : 0)
#define ERRNO_WHEN(err_expr)                                                   \
	do {                                                                   \
		int err_ = (err_expr);                                         \
		if (err_ != 0) {                                               \
			errno = err_;                                          \
			return -1;                                             \
		}                                                              \
	} while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL("write", write_fn);
	ERRNO_WHEN(fails(fd));
	return real_(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL("pwrite", pwrite_fn);
	ERRNO_WHEN(fails(fd));
	return real_(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	REAL("pwritev", pwritev_fn);
	ERRNO_WHEN(fails(fd));
	return real_(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

int fsync(int fd)
{
	REAL("fsync", sync_fn);
	ERRNO_WHEN(fails(fd));
	return real_(fd);
}

int fdatasync(int fd)
{
	REAL("fdatasync", sync_fn);
	ERRNO_WHEN(fails(fd));
	return real_(fd);
}

typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*posix_fallocate_fn)(int, off_t, off_t);

/* Allocation, as libuv and libraft make room for a segment. */
int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL("fallocate", fallocate_fn);
	ERRNO_WHEN(
	    mode_now() == ENOSPC_SEGMENTS && fd_is_ours(fd, NULL) ? ENOSPC : 0);
	return real_(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}

/* posix_fallocate returns the error; it does not set errno. */
int posix_fallocate(int fd, off_t off, off_t len)
{
	REAL("posix_fallocate", posix_fallocate_fn);
	if (mode_now() == ENOSPC_SEGMENTS && fd_is_ours(fd, NULL))
		return ENOSPC;
	return real_(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
	return posix_fallocate(fd, off, len);
}

typedef int (*linkat_fn)(int, const char *, int, const char *, int);

/* libraft names a snapshot's file with linkat(AT_FDCWD, "/proc/self/fd/N",
 * AT_FDCWD, path, AT_SYMLINK_FOLLOW): path is absolute under D. */
int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	   int flags)
{
	const char *dir = getenv("SYNOD_FAULTIO_DIR");
	REAL("linkat", linkat_fn);
	EIO_WHEN(mode_now() == EIO_SNAPSHOT_LINK && dir != NULL &&
		 dir[0] != '\0' && strncmp(newpath, dir, strlen(dir)) == 0 &&
		 strncmp(newpath + strlen(dir), "/snapshot-", 10) == 0);
	return real_(olddirfd, oldpath, newdirfd, newpath, flags);
}

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);

ssize_t read(int fd, void *buf, size_t n)
{
	REAL("read", read_fn);
	EIO_WHEN(reads_fail(fd));
	return real_(fd, buf, n);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	REAL("pread", pread_fn);
	EIO_WHEN(reads_fail(fd));
	return real_(fd, buf, n, off);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	REAL("preadv", preadv_fn);
	EIO_WHEN(reads_fail(fd));
	return real_(fd, iov, n, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int n, off_t off)
{
	return preadv(fd, iov, n, off);
}
