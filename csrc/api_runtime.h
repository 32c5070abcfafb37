/* api_runtime.h - public API of the managed runtime (heap, objects, roots,
 * collectors). Plain declarations only: fed to cffi's cdef unchanged. */
