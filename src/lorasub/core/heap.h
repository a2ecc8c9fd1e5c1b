// The C heap between tasks. glibc keeps freed memory in its arenas; over a long run the
// per-task buffers (covariances, eigendecompositions, folds, checkpoint copies) leave it
// fragmented and the resident set grows by tens of MB a task at ViT-B/16 width without
// anything being leaked. Trimming once per task hands the free pages back.
#pragma once

namespace lorasub {

// malloc_trim(0) where the C library has it (glibc); nothing elsewhere.
void return_free_heap_memory();

}  // namespace lorasub
