/**
 * Slurm before 24.05 leaves Nagle on and ACKs delayed on the step I/O sockets between srun and
 * slurmstepd: through the relay, a kernel reply of several small messages then waits 40 ms for each
 * ACK (17 % of `pass` round trips measured; reference/srun-relay.md §3.1). Nothing inside the job can
 * fix it; srun can, with TCP_NODELAY and TCP_QUICKACK. This preload sets them (the measured fix).
 *
 * It is built on first use with the login node's C compiler (`cc`, or $CC) into the user's cache
 * (private, named by the source's hash and the machine), and preloaded into the relay's srun only.
 * No compiler, Slurm 24.05 or later, or SLURM_KERNELS_SRUN_NODELAY=0: srun runs as it is.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ICommandRunner } from '../slurm/runner';

export const NODELAY_SOURCE = String.raw`/*
 * srun-nodelay: preloaded into srun (LD_PRELOAD) by the companion's srun relay on Slurm before
 * 24.05, whose step I/O sockets have Nagle on and delayed ACKs: a kernel reply of several small
 * messages then waits 40 ms for each ACK (../shared/reference/srun-relay.md section 3.1, measured).
 * It sets TCP_NODELAY on srun's TCP sockets when they are accepted or connected, and re-arms
 * TCP_QUICKACK after every read on them (Linux clears it by itself). Nothing else changes.
 *
 * Built by the companion on first use with the host's C compiler (srunNodelay.ts).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define TRACKED_FDS 65536
static unsigned char tcp_fd[TRACKED_FDS];

static int is_tcp(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int type;
    socklen_t type_len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM)
        return 0;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return 0;
    return addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
}

static void quickack(int fd)
{
    int one = 1;
    int saved = errno;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    errno = saved;
}

static void track(int fd)
{
    int one = 1;
    if (fd < 0 || fd >= TRACKED_FDS || !is_tcp(fd))
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    quickack(fd);
    tcp_fd[fd] = 1;
}

static int tracked(int fd)
{
    return fd >= 0 && fd < TRACKED_FDS && tcp_fd[fd];
}

#define REAL(name) static __typeof__(name) *real; if (!real) real = dlsym(RTLD_NEXT, #name)

/* The caller sees the errno of its own call (EINPROGRESS, EAGAIN), never one of ours. */
static void track_keeping_errno(int fd)
{
    int saved = errno;
    track(fd);
    errno = saved;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    REAL(accept);
    int got = real(fd, addr, len);
    track_keeping_errno(got);
    return got;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    REAL(accept4);
    int got = real(fd, addr, len, flags);
    track_keeping_errno(got);
    return got;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    REAL(connect);
    int done = real(fd, addr, len);
    /* A non-blocking connect in progress is a TCP socket all the same. */
    track_keeping_errno(fd);
    return done;
}

int close(int fd)
{
    REAL(close);
    if (fd >= 0 && fd < TRACKED_FDS)
        tcp_fd[fd] = 0;
    return real(fd);
}

ssize_t read(int fd, void *buf, size_t count)
{
    REAL(read);
    ssize_t got = real(fd, buf, count);
    if (got > 0 && tracked(fd))
        quickack(fd);
    return got;
}

ssize_t readv(int fd, const struct iovec *iov, int count)
{
    REAL(readv);
    ssize_t got = real(fd, iov, count);
    if (got > 0 && tracked(fd))
        quickack(fd);
    return got;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    REAL(recv);
    ssize_t got = real(fd, buf, len, flags);
    if (got > 0 && tracked(fd))
        quickack(fd);
    return got;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *from_len)
{
    REAL(recvfrom);
    ssize_t got = real(fd, buf, len, flags, from, from_len);
    if (got > 0 && tracked(fd))
        quickack(fd);
    return got;
}
`;

export interface ISrunNodelayOptions {
  runner: ICommandRunner;
  env?: NodeJS.ProcessEnv;
  log?: { warn: (o: object, m: string) => void };
}

/**
 * The environment the relay's srun gets: LD_PRELOAD of the built shim where it helps, else none.
 * Decided once, on the first relay.
 */
export function srunNodelayEnv(
  options: ISrunNodelayOptions
): () => Promise<NodeJS.ProcessEnv> {
  let decided: Promise<NodeJS.ProcessEnv> | undefined;
  return () => {
    decided ??= decide(options).catch(err => {
      options.log?.warn(
        { err: (err as Error).message },
        'srun relay without the NODELAY preload: replies may stall 40 ms'
      );
      return {};
    });
    return decided;
  };
}

async function decide(
  options: ISrunNodelayOptions
): Promise<NodeJS.ProcessEnv> {
  const env = options.env ?? process.env;
  if (env.SLURM_KERNELS_SRUN_NODELAY === '0') {
    return {};
  }
  const version = await options.runner.run(['srun', '--version']);
  if (!needsNodelay(version.stdout)) {
    return {};
  }
  const library = await buildShim(options.runner, env);
  // Before any LD_PRELOAD the site sets: ours only adds socket options.
  const preload = [library, env.LD_PRELOAD].filter(Boolean).join(':');
  return { LD_PRELOAD: preload };
}

/** Whether this srun (`srun --version`: "slurm 23.11.4", "slurm-wlm 22.05.8") needs the shim. */
export function needsNodelay(versionOutput: string): boolean {
  const found = /(\d+)\.(\d+)/.exec(versionOutput);
  if (!found) {
    return false; // an srun we cannot place: run it as it is
  }
  const [major, minor] = [Number(found[1]), Number(found[2])];
  return major < 24 || (major === 24 && minor < 5);
}

/** Builds the shim once per source and machine; concurrent companions each rename a whole file. */
async function buildShim(
  runner: ICommandRunner,
  env: NodeJS.ProcessEnv
): Promise<string> {
  const hash = createHash('sha256')
    .update(NODELAY_SOURCE)
    .digest('hex')
    .slice(0, 12);
  const dir = path.join(
    env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
    'slurm-kernels'
  );
  const library = path.join(dir, `srun-nodelay-${hash}-${os.arch()}.so`);
  // Preloaded into srun, so used only from a directory of this user's that nobody else may
  // write (XDG_CACHE_HOME may point somewhere shared); elsewhere it is built afresh, privately.
  await fs.mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => undefined);
  if (!(await isPrivate(dir, 'directory'))) {
    const ownDir = await fs.mkdtemp(
      path.join(os.tmpdir(), 'slurm-kernels-nodelay-')
    );
    return compile(runner, env, path.join(ownDir, path.basename(library)));
  }
  if (await isPrivate(library, 'file')) {
    return library;
  }
  return compile(runner, env, library);
}

/** Compiles the shim to `library`, through a temporary file renamed whole. */
async function compile(
  runner: ICommandRunner,
  env: NodeJS.ProcessEnv,
  library: string
): Promise<string> {
  const building = `${library}.${process.pid}.tmp`;
  await fs.rm(building, { force: true });
  const built = await runner
    .run(
      [
        env.CC || 'cc',
        '-O2',
        '-shared',
        '-fPIC',
        '-x',
        'c',
        '-o',
        building,
        '-',
        '-ldl'
      ],
      { input: NODELAY_SOURCE, timeoutMs: 60_000 }
    )
    .catch(async err => {
      await fs.rm(building, { force: true });
      throw err;
    });
  if (built.code !== 0) {
    await fs.rm(building, { force: true });
    throw new Error(
      `cannot build the srun NODELAY preload: ${built.stderr.trim() || `exit ${built.code}`}`
    );
  }
  await fs.rename(building, library);
  return library;
}

/** Owned by this user, not a link, writable by nobody else; false where it does not exist. */
async function isPrivate(
  file: string,
  kind: 'file' | 'directory'
): Promise<boolean> {
  try {
    const st = await fs.lstat(file);
    const ofKind = kind === 'file' ? st.isFile() : st.isDirectory();
    return ofKind && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}
