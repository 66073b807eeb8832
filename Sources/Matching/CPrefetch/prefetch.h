#ifndef BIOMATCH_MATCHING_PREFETCH_H
#define BIOMATCH_MATCHING_PREFETCH_H

// Swift has no software-prefetch intrinsic. Graph search reads scattered vectors and link lists,
// so it asks for the next ones early; unlike a load, a prefetch never holds up later
// instructions while the memory arrives.
static inline void biomatch_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
