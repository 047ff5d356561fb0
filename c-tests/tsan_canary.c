/*
 * tsan_canary.c: an unsynchronised counter shared by two threads. scripts/tsan-managed.sh
 * builds it exactly as it builds test_managed and requires ThreadSanitizer to report it, so a
 * clean test_managed run means the instrumentation was live, not absent.
 */
#include <pthread.h>
#include <stdio.h>

static long counter;

static void *bump(void *arg) {
    (void)arg;
    for (int i = 0; i < 100000; i++) counter++;
    return NULL;
}

int main(void) {
    pthread_t a, b;
    pthread_create(&a, NULL, bump, NULL);
    pthread_create(&b, NULL, bump, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%ld\n", counter);
    return 0;
}
