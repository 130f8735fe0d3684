/*
 * bench_ipc: how should image bytes reach a worker? Round trip of one job
 * (master sends the bytes, the worker reads every byte and answers) for
 *   socket  the pool's way: writev of a frame prefix + the caller's buffer
 *           on a socketpair; the worker reads the frame into its buffer
 *   memfd   a new memfd per job: write, send the fd (SCM_RIGHTS), the
 *           worker mmaps it
 *   shm     one shared mapping per worker set up once: the master memcpys
 *           into it and sends a small frame
 * Usage: bench_ipc [ITERATIONS] [FILE...]   (default sizes 160 KB, 1.4 MB, 8 MB)
 * Not run by make check: a measurement, reported in docs/models.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool/ipc.h"

#define SHM_CAP (64u << 20)


static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static uint64_t
touch(const uint8_t *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 64)
        s += p[i];
    return s;
}


static int
send_fd(int sock, int fd, uint32_t len)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &len, sizeof len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}


static int
recv_fd(int sock, uint32_t *len)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { len, sizeof *len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    if (recvmsg(sock, &mh, 0) <= 0)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}


static void
worker(int mode, int sock, uint8_t *shm)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    volatile uint64_t sink = 0;
    for (;;) {
        char ack = 1;
        if (mode == 0) {
            ssize_t n = vg_frame_read(sock, &buf, &cap, 128u << 20);
            if (n < 0)
                break;
            sink += touch(buf, (size_t)n);
        } else if (mode == 1) {
            uint32_t len;
            int fd = recv_fd(sock, &len);
            if (fd < 0)
                break;
            void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
            sink += touch(p, len);
            munmap(p, len);
            close(fd);
        } else {
            uint32_t len;
            if (read(sock, &len, sizeof len) != sizeof len)
                break;
            sink += touch(shm, len);
        }
        if (write(sock, &ack, 1) != 1)
            break;
    }
    (void)sink;
    free(buf);
    _exit(0);
}


static double
run(int mode, const uint8_t *img, size_t len, int iters)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int sz = 4 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    uint8_t *shm = mmap(NULL, SHM_CAP, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        worker(mode, sv[1], shm);
    }
    close(sv[1]);
    vg_buf hdr;
    vg_buf_init(&hdr);
    double best = 1e9;
    for (int it = 0; it < iters; it++) {
        double t0 = now();
        if (mode == 0) {
            vg_ipc_job j = { .id = (uint64_t)it, .threshold = -1, .nms = -1, .image = img, .image_len = len };
            hdr.len = 0;
            vg_ipc_encode_job(&hdr, &j);
            vg_frame_write_all(sv[0], hdr.data, hdr.len, img, len);
        } else if (mode == 1) {
            int fd = memfd_create("job", MFD_CLOEXEC);
            if (ftruncate(fd, (off_t)len) != 0 || write(fd, img, len) != (ssize_t)len)
                return -1;
            send_fd(sv[0], fd, (uint32_t)len);
            close(fd);
        } else {
            memcpy(shm, img, len);
            uint32_t l = (uint32_t)len;
            if (write(sv[0], &l, sizeof l) != sizeof l)
                return -1;
        }
        char ack;
        if (read(sv[0], &ack, 1) != 1)
            return -1;
        double dt = now() - t0;
        if (it >= 3 && dt < best)
            best = dt;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    munmap(shm, SHM_CAP);
    vg_buf_release(&hdr);
    return best;
}


int
main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200;
    size_t sizes[8];
    uint8_t *bufs[8];
    int n = 0;
    if (argc > 2) {
        for (int i = 2; i < argc && n < 8; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f)
                continue;
            fseek(f, 0, SEEK_END);
            sizes[n] = (size_t)ftell(f);
            rewind(f);
            bufs[n] = malloc(sizes[n]);
            if (fread(bufs[n], 1, sizes[n], f) != sizes[n])
                return 1;
            fclose(f);
            n++;
        }
    } else {
        size_t def[] = { 163759, 1415684, 8u << 20 };
        for (n = 0; n < 3; n++) {
            sizes[n] = def[n];
            bufs[n] = malloc(def[n]);
            for (size_t i = 0; i < def[n]; i++)
                bufs[n][i] = (uint8_t)(i * 31);
        }
    }
    printf("%10s %12s %12s %12s   (best round trip of %d, microseconds)\n", "bytes", "socket", "memfd", "shm", iters);
    for (int i = 0; i < n; i++) {
        double s = run(0, bufs[i], sizes[i], iters), m = run(1, bufs[i], sizes[i], iters),
               h = run(2, bufs[i], sizes[i], iters);
        printf("%10zu %12.1f %12.1f %12.1f\n", sizes[i], s * 1e6, m * 1e6, h * 1e6);
        free(bufs[i]);
    }
    return 0;
}
