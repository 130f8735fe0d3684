/* reply: see reply.h. */
#include "http/reply.h"

#include "http/http.h"


void
vg_reply_init(vg_reply *a)
{
    vg_buf_init(&a->buf);
    vg_jsonw_init(&a->w, &a->buf);
}


void
vg_reply_list(vg_reply *a, const char *key)
{
    vg_jsonw_obj(&a->w);
    vg_jsonw_key(&a->w, key);
    vg_jsonw_arr(&a->w);
}


void
vg_reply_send(vg_reply *a, vg_req *r, int status)
{
    vg_buf_putc(&a->buf, '\n');
    vg_req_respond_buf(r, status, "application/json", &a->buf);
    vg_buf_release(&a->buf);
}


void
vg_reply_release(vg_reply *a)
{
    vg_buf_release(&a->buf);
}
