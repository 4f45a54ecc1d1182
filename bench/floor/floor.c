/* floor.c: kernel-side cost of Vivarium's sandbox recipe (runner/vivarium_zygote.py SandboxSetup,
 * Cgroups.cs, WorkspaceVolumes.cs), reproduced in C without Python.
 *
 * usage: floor MODE [-n N] [-w WORKERS] [-H HEAP_MB] [-T] [-t TAIL_MS] [-b BASE_MS]
 * MODE: full | novol | fork | ns | nsnonet | mounts | cgroups | volume | fork1
 *   full    cgroups + volume + A(unshare all 7) -> B(pid 1: ~48 mounts, pivot_root, lo up, caps,
 *           seccomp) -> C(_exit) + teardown (rmdir x3, umount, image unlink, loop autoclear)
 *   novol   full without the workspace volume (the workspace is a plain directory)
 *   fork    A -> B -> C with the same setuid/caps/seccomp steps but no unshare (fork baseline)
 *   ns      A unshare(USER|NS|PID|NET|IPC|UTS|CGROUP) + uid/gid maps -> B (lo up) -> C
 *   nsnonet same without CLONE_NEWNET
 *   mounts  nsnonet + B builds the root (all mounts, pivot_root)
 *   cgroups mkdir x3 + 4 limit writes + rmdir x3 (no process)
 *   volume  sparse image + template copy + loop attach + ext4 mount + chown + umount + unlink
 *   fork1   one fork + child _exit + wait (use with -H 110 for the interpreter-sized image)
 * -H MB: malloc+memset a heap of MB in the parent before the batch (inherited by every fork);
 * -T: back it with transparent huge pages (MADV_HUGEPAGE before touching, as MADV_COLLAPSE does).
 * Prints one line: wall, system-wide busy CPU (/proc/stat, minus the baseline rate measured
 * just before), and a precise split: our process tree (rusage) + kernel threads (schedstat
 * deltas minus their baseline rate) + irq/softirq (/proc/stat).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/loop.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BASE "/tmp/floor"
#define CG "/sys/fs/cgroup"
#define CGNAME "floor-bench"
#define UID 61000
#define SANDBOX_ID 1000
#define VOL_SIZE (1LL << 30)
#define INODES 65536

enum { F_CG = 1, F_VOL = 2, F_PROC = 4, F_NS = 8, F_NET = 16, F_MNT = 32, F_FORK1 = 64 };
static int flags, nsb = 50, workers = 1;

static void die(const char *fmt, ...) {
    int e = errno;
    va_list ap; va_start(ap, fmt);
    fprintf(stderr, "[%d] ", getpid()); vfprintf(stderr, fmt, ap); va_end(ap);
    fprintf(stderr, ": %s\n", strerror(e));
    _exit(121);
}
#define CHECK(x, ...) do { if ((x) < 0) die(__VA_ARGS__); } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd, "open %s", path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write %s", path);
    close(fd);
}

/* ---------------- cgroups (Cgroups.cs, v1) ---------------- */
static const char *ctrls[] = { "memory", "pids", "cpu" };
static void cg_create(int id) {
    char p[256];
    for (int i = 0; i < 3; i++) { snprintf(p, sizeof p, CG "/%s/" CGNAME "/s%d", ctrls[i], id); CHECK(mkdir(p, 0755), "mkdir %s", p); }
    snprintf(p, sizeof p, CG "/memory/" CGNAME "/s%d/memory.limit_in_bytes", id); write_file(p, "1073741824");
    snprintf(p, sizeof p, CG "/pids/" CGNAME "/s%d/pids.max", id); write_file(p, "64");
    snprintf(p, sizeof p, CG "/cpu/" CGNAME "/s%d/cpu.cfs_period_us", id); write_file(p, "100000");
    snprintf(p, sizeof p, CG "/cpu/" CGNAME "/s%d/cpu.cfs_quota_us", id); write_file(p, "100000");
}
static int cg_retries;
static void cg_remove(int id) {
    char p[256];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, CG "/%s/" CGNAME "/s%d", ctrls[i], id);
        for (int a = 0; rmdir(p) < 0; a++) {
            if (errno != EBUSY || a > 1000) die("rmdir %s", p);
            cg_retries++; usleep(1000);
        }
    }
}

/* ---------------- workspace volume (WorkspaceVolumes.cs) ---------------- */
struct extent { off_t off; size_t len; char *data; };
static struct extent ext[256];
static int next_, tmpl_bytes;

static void load_template(void) {
    const char *img = BASE "/template.img";
    unlink(img);
    int fd = open(img, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd, "template"); CHECK(ftruncate(fd, VOL_SIZE), "truncate"); close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/sbin/mkfs.ext4 -q -F -m 0 -N %d -O ^has_journal -E root_owner=0:0,lazy_itable_init=1 %s", INODES, img);
    if (system(cmd) != 0) { fprintf(stderr, "mkfs failed\n"); exit(1); }
    fd = open(img, O_RDONLY);
    for (off_t pos = 0; pos < VOL_SIZE;) {
        off_t s = lseek(fd, pos, SEEK_DATA);
        if (s < 0) break;
        off_t e = lseek(fd, s, SEEK_HOLE);
        ext[next_].off = s; ext[next_].len = e - s; ext[next_].data = malloc(e - s);
        if (pread(fd, ext[next_].data, e - s, s) != e - s) die("pread");
        tmpl_bytes += e - s; next_++; pos = e;
    }
    close(fd); unlink(img);
}

static int loop_retries;
static void vol_create(int id) {
    char img[256], mp[256], dev[64];
    snprintf(img, sizeof img, BASE "/img/s%d.img", id);
    snprintf(mp, sizeof mp, BASE "/ws/s%d", id);
    int fd = open(img, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    CHECK(fd, "open %s", img);
    CHECK(ftruncate(fd, VOL_SIZE), "ftruncate");
    for (int i = 0; i < next_; i++) if (pwrite(fd, ext[i].data, ext[i].len, ext[i].off) != (ssize_t)ext[i].len) die("pwrite");
    struct loop_config cfg; memset(&cfg, 0, sizeof cfg);
    cfg.fd = fd; cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    strncpy((char *)cfg.info.lo_file_name, img, LO_NAME_SIZE - 1);
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    CHECK(ctl, "loop-control");
    int loop;
    for (int a = 0;; a++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        CHECK(n, "LOOP_CTL_GET_FREE");
        snprintf(dev, sizeof dev, "/dev/loop%d", n);
        loop = open(dev, O_RDWR | O_CLOEXEC);
        CHECK(loop, "open %s", dev);
        if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0) break;
        if (errno != EBUSY || a > 64) die("LOOP_CONFIGURE %s", dev);
        loop_retries++; close(loop);
    }
    close(ctl);
    CHECK(mount(dev, mp, "ext4", MS_NOSUID | MS_NODEV, NULL), "mount %s", dev);
    close(loop); close(fd);
    CHECK(chown(mp, UID, UID), "chown");
    char lf[300]; snprintf(lf, sizeof lf, "%s/lost+found", mp); rmdir(lf);
}
static void vol_delete(int id) {
    char img[256], mp[256];
    snprintf(img, sizeof img, BASE "/img/s%d.img", id);
    snprintf(mp, sizeof mp, BASE "/ws/s%d", id);
    CHECK(umount2(mp, MNT_DETACH), "umount %s", mp);
    CHECK(unlink(img), "unlink");
}

/* ---------------- the sandbox processes (vivarium_zygote.py SandboxSetup) ---------------- */
static const char *devnodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
static const char *optional[] = { "/etc/alternatives", "/etc/ld.so.cache", "/etc/matplotlibrc", "/etc/fonts", "/etc/localtime", "/etc/mime.types" };
#define RT BASE "/rt"
static int cur_id;
static char ws_real[256];
static struct { const char *path; char real[256]; } srcs[32];
static int nsrc;

static const char *src_real(const char *p) {
    for (int i = 0; i < nsrc; i++) if (!strcmp(srcs[i].path, p)) return srcs[i].real;
    die("no source %s", p); return NULL;
}
static void resolve(const char *p) {
    srcs[nsrc].path = p;
    if (!realpath(p, srcs[nsrc].real)) die("realpath %s", p);
    nsrc++;
}

static void mkdirs(const char *path) {
    char b[512]; snprintf(b, sizeof b, "%s", path);
    for (char *s = b + 1; *s; s++) if (*s == '/') { *s = 0; mkdir(b, 0755); *s = '/'; }
    mkdir(b, 0755);
}
static void mnt(const char *src, const char *tgt, const char *type, unsigned long fl, const char *data) {
    if (mount(src, tgt, type, fl, data) < 0) die("mount %s on %s", src ? src : "-", tgt);
}
static int nmounts;
static void bindm(const char *source, const char *dest) {
    char host[512], tgt[512]; struct stat st; struct statvfs sv;
    snprintf(host, sizeof host, "/oldroot%s", src_real(source));
    snprintf(tgt, sizeof tgt, "/newroot%s", dest);
    if (stat(host, &st) == 0 && S_ISDIR(st.st_mode)) mkdirs(tgt);
    else {
        char d[512]; snprintf(d, sizeof d, "%s", tgt); *strrchr(d, '/') = 0; mkdirs(d);
        int fd = open(tgt, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); CHECK(fd, "create %s", tgt); close(fd);
    }
    mnt(host, tgt, NULL, MS_BIND | MS_REC, NULL);
    CHECK(statvfs(tgt, &sv), "statvfs");
    unsigned long f = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_RDONLY;
    if (!strcmp(dest, "/home/user")) f &= ~MS_RDONLY;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    mnt(NULL, tgt, NULL, f, NULL);
    nmounts += 2;
}

static void build_root(void) {
    mnt("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
    CHECK(mkdir("/tmp/newroot", 0755), "mkdir"); CHECK(mkdir("/tmp/oldroot", 0755), "mkdir");
    CHECK(syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot"), "pivot_root 1");
    CHECK(chdir("/"), "chdir");
    mnt("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    bindm("/usr", "/usr");
    const char *links[][2] = { { "usr/lib", "/newroot/lib" }, { "usr/lib64", "/newroot/lib64" }, { "usr/bin", "/newroot/bin" }, { "usr/sbin", "/newroot/sbin" } };
    for (int i = 0; i < 4; i++) CHECK(symlink(links[i][0], links[i][1]), "symlink");
    for (int i = 0; i < 6; i++) bindm(optional[i], optional[i]);
    bindm(RT "/passwd", "/etc/passwd");
    bindm(RT "/group", "/etc/group");
    CHECK(mkdir("/newroot/proc", 0755), "mkdir");
    mnt("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    const char *knobs[] = { "sys", "sysrq-trigger", "irq", "bus" };
    for (int i = 0; i < 4; i++) {
        char p[128]; snprintf(p, sizeof p, "/newroot/proc/%s", knobs[i]);
        if (access(p, F_OK) == 0) {
            mnt(p, p, NULL, MS_BIND | MS_REC, NULL);
            mnt(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
            nmounts += 2;
        }
    }
    CHECK(mkdir("/newroot/dev", 0755), "mkdir");
    mnt("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    for (int i = 0; i < 6; i++) {
        char t[128], h[128]; snprintf(t, sizeof t, "/newroot/dev/%s", devnodes[i]);
        snprintf(h, sizeof h, "/oldroot/dev/%s", devnodes[i]);
        int fd = open(t, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); CHECK(fd, "create %s", t); close(fd);
        mnt(h, t, NULL, MS_BIND, NULL); nmounts++;
    }
    const char *dl[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
                            { "/proc/self/fd/2", "stderr" }, { "/proc/kcore", "core" }, { "pts/ptmx", "ptmx" } };
    for (int i = 0; i < 6; i++) { char p[128]; snprintf(p, sizeof p, "/newroot/dev/%s", dl[i][1]); CHECK(symlink(dl[i][0], p), "symlink"); }
    CHECK(mkdir("/newroot/dev/pts", 0755), "mkdir");
    mnt("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
    CHECK(mkdir("/newroot/dev/shm", 0755), "mkdir");
    mnt("tmpfs", "/newroot/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=67108864");
    mnt(NULL, "/newroot/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
    CHECK(mkdir("/newroot/tmp", 0755), "mkdir");
    mnt("tmpfs", "/newroot/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=536870912");
    CHECK(mkdir("/newroot/tmp/matplotlib", 0755), "mkdir");
    bindm(RT "/fontlist-v390.json", "/tmp/matplotlib/fontlist-v390.json");
    bindm(ws_real, "/home/user");
    bindm(RT "/vivarium_runner.py", "/opt/vivarium/vivarium_runner.py");
    CHECK(chdir("/newroot"), "chdir");
    CHECK(syscall(SYS_pivot_root, ".", "."), "pivot_root 2");
    CHECK(umount2(".", MNT_DETACH), "umount oldroot");
    CHECK(chdir("/"), "chdir");
    mnt(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
    nmounts += 9;
}

/* A seccomp filter of the policy's shape: arch check, then ~60 denied syscalls, then allow. */
static struct sock_filter filt[200];
static struct sock_fprog fprog;
static void make_filter(void) {
    int deny[] = { SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_move_mount, SYS_open_tree, SYS_fsopen, SYS_fsmount,
                   SYS_fsconfig, SYS_fspick, SYS_mount_setattr, SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev,
                   SYS_process_madvise, SYS_kcmp, SYS_bpf, SYS_perf_event_open, SYS_userfaultfd, SYS_io_uring_setup,
                   SYS_io_uring_enter, SYS_io_uring_register, SYS_keyctl, SYS_add_key, SYS_request_key, SYS_kexec_load,
                   SYS_kexec_file_load, SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_unshare, SYS_setns,
                   SYS_open_by_handle_at, SYS_name_to_handle_at, SYS_swapon, SYS_swapoff, SYS_reboot, SYS_syslog, SYS_acct,
                   SYS_quotactl, SYS_quotactl_fd, SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex,
                   SYS_sethostname, SYS_setdomainname, SYS_iopl, SYS_ioperm, SYS_personality, SYS_lookup_dcookie,
                   SYS_vhangup, SYS_nfsservctl, SYS_uselib, SYS_ustat, SYS_sysfs, SYS__sysctl, SYS_get_kernel_syms,
                   SYS_query_module, SYS_create_module };
    int n = sizeof deny / sizeof *deny, k = 0;
    filt[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    filt[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xC000003E /* AUDIT_ARCH_X86_64 */, 1, 0);
    filt[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    filt[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < n; i++) filt[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, deny[i], n - i, 0);
    filt[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    filt[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    fprog.len = k; fprog.filter = filt;
}

static void drop_privileges(void) {
    char b[16]; int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC); CHECK(fd, "cap_last_cap");
    int r = read(fd, b, sizeof b - 1); close(fd); b[r > 0 ? r : 0] = 0;
    int last = atoi(b);
    for (int c = 0; c <= last; c++) CHECK(prctl(PR_CAPBSET_DROP, c, 0, 0, 0), "capbset drop");
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient");
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2]; memset(d, 0, sizeof d);
    CHECK(syscall(SYS_capset, &h, d), "capset");
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "nnp");
    char st[4096]; fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC); r = read(fd, st, sizeof st - 1); close(fd); /* as the zygote checks */
    (void)r;
}

static void bring_up_lo(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); CHECK(s, "socket");
    struct ifreq ifr; memset(&ifr, 0, sizeof ifr); strcpy(ifr.ifr_name, "lo");
    CHECK(ioctl(s, SIOCGIFFLAGS, &ifr), "SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP;
    CHECK(ioctl(s, SIOCSIFFLAGS, &ifr), "SIOCSIFFLAGS");
    close(s);
}

static int procC(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if ((flags & F_NS) && getppid() != 1) return 121;
    return 0; /* the runner would start here */
}

static int procB(int alive) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c; fcntl(alive, F_SETFL, O_NONBLOCK); if (read(alive, &c, 1) == 0) return 121; close(alive);
    int null = open("/dev/null", O_RDWR); dup2(null, 2); close(null);
    if (flags & F_MNT) build_root();
    null = open("/dev/null", O_RDWR); dup2(null, 0); dup2(null, 1); dup2(null, 2); close(null);
    if (flags & F_NS) {
        CHECK(sethostname("sandbox", 7), "sethostname");
        if (flags & F_NET) bring_up_lo();
    }
    if (flags & F_MNT) CHECK(chdir("/home/user"), "chdir ws");
    if (flags & F_NS) drop_privileges();
    else CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "nnp");
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0), "seccomp");
    pid_t pid = fork();
    CHECK(pid, "fork C");
    if (pid == 0) _exit(procC());
    int code = 121, st; pid_t r;
    while ((r = waitpid(-1, &st, 0)) > 0 || errno == EINTR)
        if (r == pid) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return code;
}

static int procA(void) {
    pid_t parent = getppid();
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) return 121;
    int null = open("/dev/null", O_RDWR); dup2(null, 0); dup2(null, 1); close(null);
    if (flags & F_CG) {
        char p[256], pid[16]; snprintf(pid, sizeof pid, "%d", getpid());
        for (int i = 0; i < 3; i++) { snprintf(p, sizeof p, CG "/%s/" CGNAME "/s%d/tasks", ctrls[i], cur_id); write_file(p, pid); }
    }
    /* bind sources resolved against the host root, as the zygote does */
    nsrc = 0;
    snprintf(ws_real, sizeof ws_real, BASE "/ws/s%d", cur_id);
    resolve("/usr"); resolve(RT "/passwd"); resolve(RT "/group"); resolve(ws_real); resolve(RT "/vivarium_runner.py");
    resolve(RT "/fontlist-v390.json");
    for (int i = 0; i < 6; i++) resolve(optional[i]);
    CHECK(setgroups(0, NULL), "setgroups");
    CHECK(setresgid(UID, UID, UID), "setresgid");
    CHECK(setresuid(UID, UID, UID), "setresuid");
    prctl(PR_SET_DUMPABLE, 1);
    if (flags & F_NS) {
        int f = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
        if (flags & F_NET) f |= CLONE_NEWNET;
        CHECK(unshare(f), "unshare");
        char m[64]; snprintf(m, sizeof m, "%d %d 1\n", SANDBOX_ID, UID);
        write_file("/proc/self/setgroups", "deny");
        write_file("/proc/self/uid_map", m);
        write_file("/proc/self/gid_map", m);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) return 121;
        mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    }
    int p[2]; CHECK(pipe2(p, O_CLOEXEC), "pipe");
    pid_t pid = fork();
    CHECK(pid, "fork B");
    if (pid == 0) { close(p[1]); _exit(procB(p[0])); }
    close(p[0]);
    prctl(PR_SET_DUMPABLE, 0);
    int st;
    while (waitpid(pid, &st, 0) < 0) if (errno != EINTR) die("waitpid B");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void one_sandbox(int id) {
    cur_id = id;
    if (flags & F_CG) cg_create(id);
    if (flags & F_VOL) vol_create(id);
    if (flags & F_FORK1) {
        pid_t pid = fork(); CHECK(pid, "fork");
        if (pid == 0) _exit(0);
        waitpid(pid, NULL, 0);
    }
    if (flags & F_PROC) {
        pid_t pid = fork(); CHECK(pid, "fork A");
        if (pid == 0) _exit(procA());
        int st; while (waitpid(pid, &st, 0) < 0) if (errno != EINTR) die("waitpid A");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "sandbox %d failed: status %x\n", id, st); exit(1); }
    }
    if (flags & F_CG) cg_remove(id);
    if (flags & F_VOL) vol_delete(id);
}

/* ---------------- measurement ---------------- */
struct stat_cpu { unsigned long long v[10]; };
static struct stat_cpu read_stat(void) {
    struct stat_cpu s; memset(&s, 0, sizeof s);
    FILE *f = fopen("/proc/stat", "r");
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &s.v[0], &s.v[1], &s.v[2], &s.v[3], &s.v[4],
               &s.v[5], &s.v[6], &s.v[7], &s.v[8], &s.v[9]) != 10) die("stat");
    fclose(f); return s;
}
/* busy = user+nice+system+irq+softirq+steal (guest is inside user) ; ms */
static double busy_ms(struct stat_cpu a, struct stat_cpu b) {
    double t = 0; int idx[] = { 0, 1, 2, 5, 6, 7 };
    for (int i = 0; i < 6; i++) t += b.v[idx[i]] - a.v[idx[i]];
    return t * 1000.0 / sysconf(_SC_CLK_TCK);
}
/* Idle time (us) summed over CPUs: /proc/stat idle+iowait, which on this NO_HZ kernel come from the
 * precise idle clock (including the idle period in progress) and are shown in 10 ms units. (The
 * cpuidle residency counters are not used: they omit the idle period in progress.) */
static double idle_us(void) {
    struct stat_cpu s = read_stat();
    return (s.v[3] + s.v[4]) * 1e6 / sysconf(_SC_CLK_TCK);
}
static double cpuidle_us(void) {
    double t = 0; char p[128], b[64];
    for (int c = 0;; c++) {
        snprintf(p, sizeof p, "/sys/devices/system/cpu/cpu%d/cpuidle", c);
        if (access(p, F_OK) != 0) break;
        for (int s = 0;; s++) {
            snprintf(p, sizeof p, "/sys/devices/system/cpu/cpu%d/cpuidle/state%d/time", c, s);
            int fd = open(p, O_RDONLY); if (fd < 0) break;
            int r = read(fd, b, sizeof b - 1); close(fd); b[r > 0 ? r : 0] = 0; t += strtod(b, NULL);
        }
    }
    return t;
}
static double irq_ms(struct stat_cpu a, struct stat_cpu b) { return (b.v[5] - a.v[5] + b.v[6] - a.v[6]) * 1000.0 / sysconf(_SC_CLK_TCK); }

/* Sum of sum_exec_runtime over kernel threads (children of kthreadd), keyed by tid. */
#define MAXK 8192
struct kt { int tid; unsigned long long ns; };
static int kt_read(struct kt *k) {
    int n = 0; DIR *d = opendir("/proc"); struct dirent *e;
    while ((e = readdir(d)) && n < MAXK) {
        int pid = atoi(e->d_name); if (pid <= 0) continue;
        char p[64], b[512]; snprintf(p, sizeof p, "/proc/%d/stat", pid);
        int fd = open(p, O_RDONLY); if (fd < 0) continue;
        int r = read(fd, b, sizeof b - 1); close(fd); if (r <= 0) continue; b[r] = 0;
        char *q = strrchr(b, ')'); int ppid = 0; char st; if (!q || sscanf(q + 2, "%c %d", &st, &ppid) != 2) continue;
        if (pid != 2 && ppid != 2) continue;
        snprintf(p, sizeof p, "/proc/%d/schedstat", pid);
        fd = open(p, O_RDONLY); if (fd < 0) continue;
        r = read(fd, b, sizeof b - 1); close(fd); if (r <= 0) continue; b[r] = 0;
        k[n].tid = pid; k[n].ns = strtoull(b, NULL, 10); n++;
    }
    closedir(d); return n;
}
static double kt_delta_ms(struct kt *a, int na, struct kt *b, int nb) {
    double t = 0;
    for (int i = 0; i < nb; i++) {
        unsigned long long base = 0;
        for (int j = 0; j < na; j++) if (a[j].tid == b[i].tid) { base = a[j].ns; break; }
        if (b[i].ns >= base) t += (b[i].ns - base) / 1e6;
    }
    return t;
}
static struct kt k0[MAXK], k1[MAXK], k2[MAXK];
/* Every task (thread) that is neither a kernel thread nor this process: the other users of the machine. */
#define MAXF 65536
static int ft_read(struct kt *k) {
    int n = 0, self = getpid(); DIR *d = opendir("/proc"); struct dirent *e;
    while ((e = readdir(d)) && n < MAXF) {
        int pid = atoi(e->d_name); if (pid <= 0 || pid == self) continue;
        char p[96], b[512]; snprintf(p, sizeof p, "/proc/%d/stat", pid);
        int fd = open(p, O_RDONLY); if (fd < 0) continue;
        int r = read(fd, b, sizeof b - 1); close(fd); if (r <= 0) continue; b[r] = 0;
        char *q = strrchr(b, ')'); int ppid = 0; char st; if (!q || sscanf(q + 2, "%c %d", &st, &ppid) != 2) continue;
        if (pid == 2 || ppid == 2) continue;
        snprintf(p, sizeof p, "/proc/%d/task", pid);
        DIR *t = opendir(p); if (!t) continue; struct dirent *te;
        while ((te = readdir(t)) && n < MAXF) {
            int tid = atoi(te->d_name); if (tid <= 0) continue;
            snprintf(p, sizeof p, "/proc/%d/task/%d/schedstat", pid, tid);
            fd = open(p, O_RDONLY); if (fd < 0) continue;
            r = read(fd, b, sizeof b - 1); close(fd); if (r <= 0) continue; b[r] = 0;
            k[n].tid = tid; k[n].ns = strtoull(b, NULL, 10); n++;
        }
        closedir(t);
    }
    closedir(d); return n;
}
static struct kt f1[MAXF], f2[MAXF];
/* CPU time of every task on the machine, exited ones included (root of the cpuacct v1 hierarchy), ms. */
static double cpuacct_ms(void) {
    char b[64]; int fd = open(CG "/cpuacct/cpuacct.usage", O_RDONLY); if (fd < 0) return 0;
    int r = read(fd, b, sizeof b - 1); close(fd); b[r > 0 ? r : 0] = 0; return strtod(b, NULL) / 1e6;
}
static double self_ms(void) { struct rusage r; getrusage(RUSAGE_SELF, &r); return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3; }

static void setup_dirs(void) {
    mkdir(BASE "/img", 0700); mkdir(BASE "/ws", 0755); mkdir(RT, 0755);
    const char *files[] = { RT "/passwd", RT "/group", RT "/fontlist-v390.json", RT "/vivarium_runner.py" };
    for (int i = 0; i < 4; i++) { int fd = open(files[i], O_CREAT | O_WRONLY, 0644); if (write(fd, "x\n", 2) < 0) {} close(fd); }
    for (int i = 0; i < nsb; i++) { char p[128]; snprintf(p, sizeof p, BASE "/ws/s%d", i); mkdir(p, 0755); chown(p, UID, UID); }
    if (flags & F_CG) for (int i = 0; i < 3; i++) { char p[128]; snprintf(p, sizeof p, CG "/%s/" CGNAME, ctrls[i]); mkdir(p, 0755); }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: floor MODE [-n N] [-w W] [-H MB] [-T] [-t TAIL_MS] [-b BASE_MS]\n"); return 2; }
    const char *mode = argv[1];
    if (!strcmp(mode, "full")) flags = F_CG | F_VOL | F_PROC | F_NS | F_NET | F_MNT;
    else if (!strcmp(mode, "novol")) flags = F_CG | F_PROC | F_NS | F_NET | F_MNT;
    else if (!strcmp(mode, "fork")) flags = F_PROC;
    else if (!strcmp(mode, "ns")) flags = F_PROC | F_NS | F_NET;
    else if (!strcmp(mode, "nsnonet")) flags = F_PROC | F_NS;
    else if (!strcmp(mode, "mounts")) flags = F_PROC | F_NS | F_MNT;
    else if (!strcmp(mode, "cgroups")) flags = F_CG;
    else if (!strcmp(mode, "volume")) flags = F_VOL;
    else if (!strcmp(mode, "fork1")) flags = F_FORK1;
    else { fprintf(stderr, "unknown mode\n"); return 2; }
    long heap_mb = 0; int huge = 0, tail_ms = 1500, base_ms = 1000, opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "n:w:H:Tt:b:")) != -1) switch (opt) {
        case 'n': nsb = atoi(optarg); break;
        case 'w': workers = atoi(optarg); break;
        case 'H': heap_mb = atol(optarg); break;
        case 'T': huge = 1; break;
        case 't': tail_ms = atoi(optarg); break;
        case 'b': base_ms = atoi(optarg); break;
        default: return 2;
    }
    setup_dirs();
    make_filter();
    if (flags & F_VOL) load_template();
    if (heap_mb) {
        size_t sz = heap_mb << 20;
        char *h = mmap(NULL, sz + (2 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        h = (char *)(((uintptr_t)h + (2 << 20) - 1) & ~((uintptr_t)(2 << 20) - 1));
        madvise(h, sz, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        memset(h, 1, sz);
    }
    int go[2]; if (pipe(go) < 0) die("pipe");
    pid_t w[64];
    for (int i = 0; i < workers; i++) {
        w[i] = fork();
        if (w[i] == 0) {
            close(go[1]); char c; if (read(go[0], &c, 1) < 0) {}
            for (int j = i; j < nsb; j += workers) one_sandbox(j);
            if (cg_retries || loop_retries) fprintf(stderr, "worker %d: cgroup rmdir retries %d, loop EBUSY retries %d\n", i, cg_retries, loop_retries);
            _exit(0);
        }
    }
    close(go[0]);
    usleep(200000);
    int ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nk0 = kt_read(k0); struct stat_cpu sb0 = read_stat(); double tb0 = now(), ib0 = idle_us(), ab0 = cpuacct_ms();
    usleep(base_ms * 1000);
    struct stat_cpu s0 = read_stat(); double t0 = now(), i0 = idle_us(), a0 = cpuacct_ms(), m0 = self_ms(); int nf1 = ft_read(f1); int nk1 = kt_read(k1); double tk1 = now();
    /* go */
    double start = now();
    close(go[1]);
    int failed = 0;
    for (int i = 0; i < workers; i++) { int st; waitpid(w[i], &st, 0); if (!WIFEXITED(st) || WEXITSTATUS(st)) failed = 1; }
    double wall = (now() - start) * 1000;
    usleep(tail_ms * 1000);
    struct stat_cpu s1 = read_stat(); double t1 = now(), i1 = idle_us(), a1 = cpuacct_ms(); int nf2 = ft_read(f2); double m1 = self_ms(); double tk2a = now(); int nk2 = kt_read(k2); double tk2 = (tk2a + now()) / 2;
    struct rusage ru; getrusage(RUSAGE_CHILDREN, &ru);
    double tree = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    double tree_sys = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
    /* system-wide busy = CPUs x elapsed - idle (cpuidle residency, us precision) */
    double base_rate = ((t0 - tb0) * ncpu * 1e3 - (i0 - ib0) / 1e3) / (t0 - tb0);   /* ms CPU per s, before the batch */
    double sys_raw = (t1 - t0) * ncpu * 1e3 - (i1 - i0) / 1e3, sys_corr = sys_raw - base_rate * (t1 - t0);
    double steal = (s1.v[7] - s0.v[7]) * 1000.0 / sysconf(_SC_CLK_TCK); (void)busy_ms;
    double kt_base_rate = kt_delta_ms(k0, nk0, k1, nk1) / (tk1 - tb0);
    double kt = kt_delta_ms(k1, nk1, k2, nk2), kt_corr = kt - kt_base_rate * (tk2 - tk1);
    double irq = irq_ms(s0, s1) - irq_ms(sb0, s0) / (t0 - tb0) * (t1 - t0);
    double precise = tree + kt_corr;
    double foreign = kt_delta_ms(f1, nf1, f2, nf2);
    /* all-in: system busy time minus every task that is not ours and not a kernel thread (from cpuacct,
     * exited ones included), minus the kernel threads' and the non-task (irq in idle) baseline rates */
    double nontask_rate = (((t0 - tb0) * ncpu * 1e3 - (i0 - ib0) / 1e3) - (a0 - ab0)) / (t0 - tb0);
    double nontask = (sys_raw - (a1 - a0)) - nontask_rate * (t1 - t0);
    double allin = tree + kt_corr + nontask;
    double excl = sys_raw - foreign - (m1 - m0) - kt_base_rate * (t1 - t0); /* no IRQ_TIME_ACCOUNTING here: irq time is inside task runtimes */
    if (getenv("FLOOR_DEBUG")) { /* per-kthread deltas: baseline window, then batch window */
        for (int i = 0; i < nk2; i++) {
            unsigned long long a = 0, b = 0; int ina = 0;
            for (int j = 0; j < nk1; j++) if (k1[j].tid == k2[i].tid) { b = k1[j].ns; ina = 1; break; }
            for (int j = 0; j < nk0; j++) if (k0[j].tid == k2[i].tid) { a = k0[j].ns; break; }
            double base = ina ? (b - a) / 1e6 : 0, win = (k2[i].ns - (ina ? b : 0)) / 1e6;
            if (win > 0.5 || base > 0.5) {
                char p[64], name[64] = ""; snprintf(p, sizeof p, "/proc/%d/comm", k2[i].tid);
                int fd = open(p, O_RDONLY); if (fd >= 0) { int r = read(fd, name, 63); if (r > 0) name[r - 1] = 0; close(fd); }
                fprintf(stderr, "  kthread %6d %-28s base %7.2f ms  window %7.2f ms%s\n", k2[i].tid, name, base, win, ina ? "" : " (new)");
            }
        }
    }
    double la[3]; getloadavg(la, 3);
    printf("%-8s w=%d n=%d H=%ld%s wall_ms=%.1f sys_cpu_ms=%.1f (raw %.1f, base %.0f ms/s) per_sb_sys=%.2f | tree=%.1f (sys %.1f) kthreads=%.1f (base %.1f ms/s) irq=%.1f precise=%.1f per_sb_precise=%.2f | excl=%.1f (foreign %.1f) per_sb_excl=%.2f | nontask=%.1f (base %.1f ms/s) allin=%.1f per_sb_allin=%.2f | tmpl=%dKiB steal=%.0f load=%.2f%s\n",
           mode, workers, nsb, heap_mb, huge ? "T" : "", wall, sys_corr, sys_raw, base_rate, sys_corr / nsb, tree, tree_sys, kt_corr, kt_base_rate,
           irq, precise, precise / nsb, excl, foreign, excl / nsb, nontask, nontask_rate, allin, allin / nsb, tmpl_bytes >> 10, steal, la[0], failed ? " FAILED" : "");
    return failed;
}
