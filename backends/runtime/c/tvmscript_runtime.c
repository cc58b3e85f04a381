/* tvmscript_runtime.c: the C entry of an exported model, the part that is the same for every
 * model (the API of tvmscript_model.h over the tables the export generates; see
 * tvmscript_entry.h). Compiled into each model library by backends/llvm/export.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "tvmscript_entry.h"

struct tvmscript_model {
  const tvms_function* function;
  unsigned char* workspace;
};

static __thread char last_error[1024];

static void set_error(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(last_error, sizeof last_error, format, args);
  va_end(args);
}

int tvmscript_abi_version(void) { return TVMSCRIPT_ABI_VERSION; }

const char* tvmscript_last_error(void) { return last_error; }

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static const char* cpu_problem;

static void check_cpu_once(void) { cpu_problem = tvms_cpu_problem(); }

const char* tvmscript_check_cpu(void) {
  pthread_once(&cpu_once, check_cpu_once);
  return cpu_problem;
}

int tvmscript_num_functions(void) { return tvms_num_functions; }

const char* tvmscript_function_name(int index) {
  return index >= 0 && index < tvms_num_functions ? tvms_functions[index].name : NULL;
}

/* Linux grants AMX tile state per process, on request; an AMX instruction before that is
   SIGILL. */
static int request_amx(void) {
#if defined(__linux__) && defined(__x86_64__)
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0) {
    set_error("the model's kernels use Intel AMX, which Linux refused to this process "
              "(arch_prctl: %s)", strerror(errno));
    return -1;
  }
  return 0;
#else
  set_error("the model's kernels use Intel AMX, which needs Linux on x86-64");
  return -1;
#endif
}

static const tvms_function* find_function(const char* name) {
  for (int i = 0; i < tvms_num_functions; ++i)
    if (strcmp(tvms_functions[i].name, name) == 0) return &tvms_functions[i];
  size_t used = (size_t)snprintf(last_error, sizeof last_error,
                                 "this model has no graph function '%s'; it has:", name);
  for (int i = 0; i < tvms_num_functions && used < sizeof last_error; ++i)
    used += (size_t)snprintf(last_error + used, sizeof last_error - used, "%s '%s'",
                             i ? "," : "", tvms_functions[i].name);
  return NULL;
}

tvmscript_model* tvmscript_model_create(const char* func) {
  const char* name = func ? func : "main";
  const char* problem = tvmscript_check_cpu();
  if (problem) {
    set_error("%s", problem);
    return NULL;
  }
  const tvms_function* f = find_function(name);
  if (!f) return NULL;
  if (f->unsupported) {
    set_error("graph function '%s' cannot run from C: %s", name, f->unsupported);
    return NULL;
  }
  if (tvms_needs_amx && request_amx() != 0) return NULL;
  tvmscript_model* model = calloc(1, sizeof *model);
  if (!model) {
    set_error("out of memory creating the model object for '%s'", name);
    return NULL;
  }
  model->function = f;
  if (f->workspace_bytes &&
      posix_memalign((void**)&model->workspace, 64, f->workspace_bytes) != 0) {
    free(model);
    set_error("out of memory: '%s' needs a workspace of %zu bytes", name, f->workspace_bytes);
    return NULL;
  }
  return model;
}

int tvmscript_model_num_inputs(const tvmscript_model* model) {
  return model ? model->function->num_inputs : 0;
}

int tvmscript_model_num_outputs(const tvmscript_model* model) {
  return model ? model->function->num_outputs : 0;
}

const tvmscript_tensor_info* tvmscript_model_input(const tvmscript_model* model, int index) {
  if (!model || index < 0 || index >= model->function->num_inputs) return NULL;
  return &model->function->inputs[index];
}

const tvmscript_tensor_info* tvmscript_model_output(const tvmscript_model* model, int index) {
  if (!model || index < 0 || index >= model->function->num_outputs) return NULL;
  return &model->function->outputs[index];
}

size_t tvmscript_model_workspace_bytes(const tvmscript_model* model) {
  return model ? model->function->workspace_bytes : 0;
}

/* Each buffer present (unless empty) and aligned to its elements, as the kernels assume. */
static int check_buffers(const char* func, const char* kind, int count,
                         const void* const* buffers, const tvmscript_tensor_info* info,
                         const int* align) {
  if (count && !buffers) {
    set_error("%s: the array of %s pointers is NULL (the function takes %d)", func, kind, count);
    return -1;
  }
  for (int i = 0; i < count; ++i) {
    if (!buffers[i] && info[i].nbytes) {
      set_error("%s: %s %d ('%s') is NULL", func, kind, i, info[i].name);
      return -1;
    }
    if ((uintptr_t)buffers[i] % (uintptr_t)align[i]) {
      set_error("%s: %s %d ('%s', %s) is at %p, not aligned to its %d-byte elements", func,
                kind, i, info[i].name, info[i].dtype, buffers[i], align[i]);
      return -1;
    }
  }
  return 0;
}

int tvmscript_model_run(tvmscript_model* model, const void* const* inputs,
                        void* const* outputs) {
  if (!model) {
    set_error("tvmscript_model_run: the model is NULL (did tvmscript_model_create fail?)");
    return -1;
  }
  const tvms_function* f = model->function;
  if (check_buffers(f->name, "input", f->num_inputs, inputs, f->inputs, f->input_align) ||
      check_buffers(f->name, "output", f->num_outputs, (const void* const*)outputs, f->outputs,
                    f->output_align))
    return -1;
  return f->run(model->workspace, inputs, outputs);
}

void tvmscript_model_destroy(tvmscript_model* model) {
  if (!model) return;
  free(model->workspace);
  free(model);
}

int tvms_kernel_failed(const char* func, const char* kernel, int code,
                       const char* const* messages, int num_messages) {
  if (code > 0 && code <= num_messages)
    set_error("%s: %s: assertion failed: %s", func, kernel, messages[code - 1]);
  else
    set_error("%s: %s: kernel returned error code %d", func, kernel, code);
  return code ? code : -1;
}
