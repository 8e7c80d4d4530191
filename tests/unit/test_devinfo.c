/* test_devinfo — device names and the free-memory query: a CPU-only build
 * (and a machine without a CUDA device or driver) answers with a clear
 * status and message, a CUDA machine with free <= total. */
#include "devinfo.h"
#include "error.h"
#include "harness.h"

#include <string.h>

static void test_ordinals(void)
{
    CHECK(device_cuda_ordinal("auto") == 0 && device_cuda_ordinal("cuda") == 0 && device_cuda_ordinal(NULL) == 0,
          "auto, cuda and no --device mean device 0");
    CHECK(device_cuda_ordinal("cuda:3") == 3 && device_cuda_ordinal("cuda:0") == 0, "cuda:N is N");
    CHECK(device_cuda_ordinal("cpu") == -1, "cpu names no CUDA device");
    CHECK(device_cuda_ordinal("cuda:") == -1 && device_cuda_ordinal("cuda:x") == -1 &&
              device_cuda_ordinal("cuda:-1") == -1 && device_cuda_ordinal("cuda:1x") == -1 &&
              device_cuda_ordinal("gpu") == -1,
          "malformed names are no device");
}

static void test_free_memory(void)
{
    size_t free_bytes = 1, total_bytes = 1;
    error_clear();
    int rc = device_free_memory(0, &free_bytes, &total_bytes);
    if (rc == 0) {
        printf("cuda:0: %zu of %zu bytes free\n", free_bytes, total_bytes);
        CHECK(total_bytes > 0 && free_bytes <= total_bytes, "free <= total");
    } else {
        const char *msg = error_message();
        printf("no device: %s\n", msg);
        CHECK(rc == EX_UNAVAILABLE, "no device: EX_UNAVAILABLE");
        CHECK(!strncmp(msg, "no CUDA backend", 15) || !strncmp(msg, "no CUDA device: ", 16),
              "the reason says no CUDA backend or no CUDA device: %s", msg);
        CHECK(free_bytes == 0 && total_bytes == 0, "no device: zero bytes");
    }
    error_clear();
    rc = device_free_memory(1 << 20, &free_bytes, &total_bytes);
    CHECK(rc == EX_UNAVAILABLE && free_bytes == 0, "device 2^20 does not exist: %s", error_message());
    error_clear();
}

int main(void)
{
    test_ordinals();
    test_free_memory();
    return harness_report("devinfo");
}
