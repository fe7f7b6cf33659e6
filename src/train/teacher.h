/* teacher.h — knowledge distillation's teacher: a tern training checkpoint
 * (config `teacher:`), run forward in eval mode, without gradients, in its
 * own ctx on the student's batch, whose logits the training loss
 * (tern_xent_loss) compares the student's with. Internal to the trainer. */
#ifndef TERN_TRAIN_TEACHER_H
#define TERN_TRAIN_TEACHER_H

#include "tern/config.h"
#include "tern/nn.h"
#include "tern/ops.h"
#include "tern/pool.h"

typedef struct tern_teacher {
    int on;             /* the config has a teacher */
    tern_model model;   /* on: the checkpoint's model, with its parameters */
    tern_ctx ctx;       /* on: its own arena, reset every batch */
    tern_xent_cfg loss; /* the training loss: label smoothing, and the teacher's T, w and logits */
} tern_teacher;

/* From cfg's teacher section (none: plain loss with cfg's label smoothing):
 * load the checkpoint (tern_config_teacher_path) for the student's input
 * shape, and check it against the student: its class count, and its
 * dataset normalisation (a teacher fed other inputs teaches nonsense).
 * Errors are one line naming the file. On failure *t is freeable. */
tern_status tern_teacher_load(tern_teacher *t, const tern_config *cfg, const tern_model *student, tern_pool *pool);

/* The loss of a training step on batch x (N, C, H, W): *loss = t->loss with,
 * when on, the teacher's logits of x (N, K), valid until the next call. */
tern_status tern_teacher_loss(tern_teacher *t, tern_tensor *x, const tern_xent_cfg **loss);

/* Release the model and the ctx; leaves *t off. */
void tern_teacher_free(tern_teacher *t);

#endif
