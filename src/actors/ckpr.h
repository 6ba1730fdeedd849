/* ckpr.h: the one place src/actors includes Concurrency Kit's <ck_pr.h>.
 * Included first by every actors header and source file (and therefore by anything that
 * includes an actors header), so every ck_* structure we use sees the same ck_pr.
 * Must never change the meaning of ck_pr in a normal build: there it is exactly <ck_pr.h>.
 *
 * Why it exists: on x86-64, ck_pr is inline assembly. ThreadSanitizer cannot see inside
 * inline assembly, so every lock-free hand-off built on ck_pr would be reported as a data
 * race. When the translation unit is compiled with -fsanitize=thread we therefore give
 * ck_pr a machine-dependent layer made of compiler __atomic builtins, which TSan
 * understands, with the orderings that the x86-64 port provides in hardware (TSO):
 *   ck_pr_load_*  -> acquire load        ck_pr_store_*  -> release store
 *   ck_pr_cas/fas/faa/add/inc/... -> sequentially consistent read-modify-write
 *   ck_pr_fence_* -> a locked RMW on a thread-private word: a real full barrier, but no
 *                    happens-before edge (TSan models no fences; our code never relies on a
 *                    fence alone for an edge that TSan must see)
 * So TSan checks the same algorithm the CPU runs. The generic part of <ck_pr.h> (fas,
 * btc, the _value variants...) is then built by CK itself on top of this layer, exactly as
 * CK does for its own GCC-builtins port (CK_USE_CC_BUILTINS).
 * Invariant: in a TSan build every ck_pr access is an atomic access visible to TSan. */
#ifndef RINGCHAT_ACTORS_CKPR_H
#define RINGCHAT_ACTORS_CKPR_H

#if defined(__SANITIZE_THREAD__)
#define RC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RC_TSAN 1
#endif
#endif

#if defined(RC_TSAN) && !defined(CK_PR_H)

#define CK_USE_CC_BUILTINS   1 /* skip the inline-assembly port */
#define CK_PR_DISABLE_DOUBLE 1
#define CK_F_PR              1 /* we provide the machine-dependent layer below */

#include <ck_cc.h>
#include <ck_md.h>
#include <ck_stdbool.h>
#include <ck_stdint.h>

#include "gcc/ck_f_pr.h" /* the feature list of CK's GCC-builtins port */

#define CK_F_PR_FAS_PTR
#define CK_F_PR_FAS_CHAR
#define CK_F_PR_FAS_INT
#define CK_F_PR_FAS_UINT
#define CK_F_PR_FAS_64
#define CK_F_PR_FAS_32
#define CK_F_PR_FAS_16
#define CK_F_PR_FAS_8

CK_CC_INLINE static void ck_pr_stall(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Fences. GCC rejects atomic_thread_fence under -fsanitize=thread (TSan does not model
 * fences). A locked read-modify-write on a thread-private word is a full barrier on x86-64
 * (what the real port's mfence gives) and creates no happens-before edge between threads, so
 * it cannot hide a race from TSan. */
static _Thread_local unsigned long rc_ckpr_fence_word;

#define RC_CKPR_FENCE(T)                                                                           \
    CK_CC_INLINE static void ck_pr_fence_strict_##T(void)                                          \
    {                                                                                              \
        (void)__atomic_fetch_add(&rc_ckpr_fence_word, 0ul, __ATOMIC_SEQ_CST);                      \
    }
RC_CKPR_FENCE(atomic)
RC_CKPR_FENCE(atomic_atomic)
RC_CKPR_FENCE(atomic_load)
RC_CKPR_FENCE(atomic_store)
RC_CKPR_FENCE(store_atomic)
RC_CKPR_FENCE(load_atomic)
RC_CKPR_FENCE(load)
RC_CKPR_FENCE(load_load)
RC_CKPR_FENCE(load_store)
RC_CKPR_FENCE(store)
RC_CKPR_FENCE(store_store)
RC_CKPR_FENCE(store_load)
RC_CKPR_FENCE(memory)
RC_CKPR_FENCE(acquire)
RC_CKPR_FENCE(release)
RC_CKPR_FENCE(acqrel)
RC_CKPR_FENCE(lock)
RC_CKPR_FENCE(unlock)
#undef RC_CKPR_FENCE

CK_CC_INLINE static void *ck_pr_md_load_ptr(const void *target)
{
    return __atomic_load_n((void *const *)target, __ATOMIC_ACQUIRE);
}

CK_CC_INLINE static void ck_pr_md_store_ptr(void *target, const void *v)
{
    __atomic_store_n((void **)target, CK_CC_DECONST_PTR(v), __ATOMIC_RELEASE);
}

/* One block per integer width: load, store, cas, cas_value, faa, fas and the binary ops. */
#define RC_CKPR_INT(S, T)                                                                          \
    CK_CC_INLINE static T ck_pr_md_load_##S(const T *target)                                       \
    {                                                                                              \
        return __atomic_load_n(target, __ATOMIC_ACQUIRE);                                          \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_md_store_##S(T *target, T v)                                    \
    {                                                                                              \
        __atomic_store_n(target, v, __ATOMIC_RELEASE);                                             \
    }                                                                                              \
    CK_CC_INLINE static bool ck_pr_cas_##S(T *target, T compare, T set)                            \
    {                                                                                              \
        return __atomic_compare_exchange_n(target, &compare, set, false, __ATOMIC_SEQ_CST,         \
                                           __ATOMIC_SEQ_CST);                                      \
    }                                                                                              \
    CK_CC_INLINE static bool ck_pr_cas_##S##_value(T *target, T compare, T set, T *v)              \
    {                                                                                              \
        bool ok = __atomic_compare_exchange_n(target, &compare, set, false, __ATOMIC_SEQ_CST,      \
                                              __ATOMIC_SEQ_CST);                                   \
        *v = compare;                                                                              \
        return ok;                                                                                 \
    }                                                                                              \
    CK_CC_INLINE static T ck_pr_faa_##S(T *target, T d)                                            \
    {                                                                                              \
        return __atomic_fetch_add(target, d, __ATOMIC_SEQ_CST);                                    \
    }                                                                                              \
    CK_CC_INLINE static T ck_pr_fas_##S(T *target, T v)                                            \
    {                                                                                              \
        return __atomic_exchange_n(target, v, __ATOMIC_SEQ_CST);                                   \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_add_##S(T *target, T d)                                         \
    {                                                                                              \
        (void)__atomic_fetch_add(target, d, __ATOMIC_SEQ_CST);                                     \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_sub_##S(T *target, T d)                                         \
    {                                                                                              \
        (void)__atomic_fetch_sub(target, d, __ATOMIC_SEQ_CST);                                     \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_and_##S(T *target, T d)                                         \
    {                                                                                              \
        (void)__atomic_fetch_and(target, d, __ATOMIC_SEQ_CST);                                     \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_or_##S(T *target, T d)                                          \
    {                                                                                              \
        (void)__atomic_fetch_or(target, d, __ATOMIC_SEQ_CST);                                      \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_xor_##S(T *target, T d)                                         \
    {                                                                                              \
        (void)__atomic_fetch_xor(target, d, __ATOMIC_SEQ_CST);                                     \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_inc_##S(T *target)                                              \
    {                                                                                              \
        (void)__atomic_fetch_add(target, (T)1, __ATOMIC_SEQ_CST);                                  \
    }                                                                                              \
    CK_CC_INLINE static void ck_pr_dec_##S(T *target)                                              \
    {                                                                                              \
        (void)__atomic_fetch_sub(target, (T)1, __ATOMIC_SEQ_CST);                                  \
    }

RC_CKPR_INT(char, char)
RC_CKPR_INT(int, int)
RC_CKPR_INT(uint, unsigned int)
RC_CKPR_INT(64, uint64_t)
RC_CKPR_INT(32, uint32_t)
RC_CKPR_INT(16, uint16_t)
RC_CKPR_INT(8, uint8_t)
#undef RC_CKPR_INT

/* Pointer read-modify-writes (CK passes pointers as void *; arithmetic is on uintptr_t). */
CK_CC_INLINE static bool ck_pr_cas_ptr(void *target, void *compare, void *set)
{
    return __atomic_compare_exchange_n((void **)target, &compare, set, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

CK_CC_INLINE static bool ck_pr_cas_ptr_value(void *target, void *compare, void *set, void *v)
{
    bool ok = __atomic_compare_exchange_n((void **)target, &compare, set, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST);
    *(void **)v = compare;
    return ok;
}

CK_CC_INLINE static void *ck_pr_fas_ptr(void *target, void *v)
{
    return __atomic_exchange_n((void **)target, v, __ATOMIC_SEQ_CST);
}

CK_CC_INLINE static void *ck_pr_faa_ptr(void *target, uintptr_t d)
{
    return (void *)__atomic_fetch_add((uintptr_t *)target, d, __ATOMIC_SEQ_CST);
}

#define RC_CKPR_PTR_BIN(K)                                                                         \
    CK_CC_INLINE static void ck_pr_##K##_ptr(void *target, uintptr_t d)                            \
    {                                                                                              \
        (void)__atomic_fetch_##K((uintptr_t *)target, d, __ATOMIC_SEQ_CST);                        \
    }
RC_CKPR_PTR_BIN(add)
RC_CKPR_PTR_BIN(sub)
RC_CKPR_PTR_BIN(and)
RC_CKPR_PTR_BIN(or)
RC_CKPR_PTR_BIN(xor)
#undef RC_CKPR_PTR_BIN

CK_CC_INLINE static void ck_pr_inc_ptr(void *target)
{
    (void)__atomic_fetch_add((uintptr_t *)target, (uintptr_t)1, __ATOMIC_SEQ_CST);
}

CK_CC_INLINE static void ck_pr_dec_ptr(void *target)
{
    (void)__atomic_fetch_sub((uintptr_t *)target, (uintptr_t)1, __ATOMIC_SEQ_CST);
}

#endif /* RC_TSAN && !CK_PR_H */

#include <ck_pr.h>

#endif /* RINGCHAT_ACTORS_CKPR_H */
