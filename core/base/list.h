/*
 * list: an intrusive doubly-linked list.
 *
 * The links live inside the element (a vg_link member), so linking and
 * unlinking never allocate, and an element leaves its list in O(1) from
 * wherever it is found (a job answered, a connection closing, a bucket
 * evicted). The head knows its first and last element and how many are
 * linked. Nothing here frees anything: the list does not own its elements.
 *
 *     typedef struct job { ...; vg_link qlink; ... } job;
 *
 *     vg_list queue;                                   zeroed = empty
 *     vg_list_push_back(&queue, &j->qlink);
 *     job *oldest = vg_list_first(&queue, job, qlink); NULL when empty
 *     vg_list_each(x, &queue, job, qlink)              x: job *, first to last
 *         ...;
 *     vg_list_each_safe(x, nx, &queue, job, qlink)     x may leave the list
 *         if (done(x))
 *             vg_list_remove(&queue, &x->qlink);
 *
 * Rules (not checked): an element is on at most one list per vg_link
 * member, and vg_list_remove() is given the list it is on. A removed
 * element's links are NULL. In vg_list_each() the current element must
 * stay linked until the next step; vg_list_each_safe() allows removing the
 * current one (not its successor). For a const list pass a const type
 * ("const job").
 */
#ifndef VG_LIST_H
#define VG_LIST_H

#include <stddef.h>

typedef struct vg_link {
    struct vg_link *prev, *next;   /* NULL at the ends, and while unlinked */
} vg_link;

typedef struct vg_list {
    vg_link *first, *last;         /* NULL when empty */
    size_t n;                      /* elements linked */
} vg_list;

/* The element that holds `link` (a vg_link * to its member `member`). */
#define vg_list_entry(link, type, member) ((type *)(void *)((char *)(link) - offsetof(type, member)))
/* First and last element, or NULL. */
#define vg_list_first(list, type, member) \
    ((list)->first ? vg_list_entry((list)->first, type, member) : NULL)
#define vg_list_last(list, type, member) \
    ((list)->last ? vg_list_entry((list)->last, type, member) : NULL)
/* The element after `elem` (which is linked), or NULL. */
#define vg_list_next(elem, type, member) \
    ((elem)->member.next ? vg_list_entry((elem)->member.next, type, member) : NULL)

/* Declares `var` (type *) and walks the list from first to last. */
#define vg_list_each(var, list, type, member) \
    for (type *var = vg_list_first(list, type, member); var; var = vg_list_next(var, type, member))
/* The same, reading the successor `nxt` before the body runs: the body may remove `var`. */
#define vg_list_each_safe(var, nxt, list, type, member)                                              \
    for (type *var = vg_list_first(list, type, member), *nxt = var ? vg_list_next(var, type, member) : NULL; \
         var; var = nxt, nxt = var ? vg_list_next(var, type, member) : NULL)

static inline void
vg_list_init(vg_list *l)
{
    l->first = l->last = NULL;
    l->n = 0;
}


static inline int
vg_list_empty(const vg_list *l)
{
    return l->first == NULL;
}


/* Links e (not on any list) between prev and next, neighbours in l (NULL: an end). */
static inline void
vg_list__link(vg_list *l, vg_link *prev, vg_link *e, vg_link *next)
{
    e->prev = prev;
    e->next = next;
    *(prev ? &prev->next : &l->first) = e;
    *(next ? &next->prev : &l->last) = e;
    l->n++;
}


/* Links e (not on any list) after the last element. */
static inline void
vg_list_push_back(vg_list *l, vg_link *e)
{
    vg_list__link(l, l->last, e, NULL);
}


/* Links e (not on any list) before the first element. */
static inline void
vg_list_push_front(vg_list *l, vg_link *e)
{
    vg_list__link(l, NULL, e, l->first);
}


/* Unlinks e from l (the list it is on); its links become NULL. */
static inline void
vg_list_remove(vg_list *l, vg_link *e)
{
    *(e->prev ? &e->prev->next : &l->first) = e->next;
    *(e->next ? &e->next->prev : &l->last) = e->prev;
    e->prev = e->next = NULL;
    l->n--;
}

#endif
