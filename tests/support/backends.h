/* backends.h: run one integration test body once per io backend. */
#ifndef RINGCHAT_BACKENDS_H
#define RINGCHAT_BACKENDS_H

#define BOTH_BACKENDS(suite, fn)                                                                   \
    Test(suite, fn##_uring)                                                                        \
    {                                                                                              \
        fn("uring");                                                                               \
    }                                                                                              \
    Test(suite, fn##_epoll)                                                                        \
    {                                                                                              \
        fn("epoll");                                                                               \
    }

#endif
