# CUDA, NCCL and the C++ standard around find_package(Torch).
#
#   lorasub_cuda_before_torch()   the CUDA toolkit (if any) and what a CUDA LibTorch's own
#                                 CMake needs of it: nvcc for its enable_language(CUDA), and
#                                 CUDA::nvToolsExt, which CUDA >= 12.9 no longer ships
#   lorasub_cuda_after_torch()    NCCL and cudart for the NCCL communicator: the CUDA
#                                 LibTorch's bundled copies first (a pip torch's
#                                 site-packages/nvidia/{nccl,cu13,cuda_runtime}, or the
#                                 libraries beside libtorch), then the toolkit, then the
#                                 system; says which it took
#   lorasub_cxx_standard_for_torch(VERSION OUT)   17, or 20 from Torch 2.12 on
#
# Explicit choices win: -DNCCL_INCLUDE_DIR=... -DNCCL_LIBRARY=... (and
# -DLORASUB_CUDART_LIBRARY=...) are taken as given.

include_guard(GLOBAL)

function(lorasub_cxx_standard_for_torch version out)
  # Torch's headers stop compiling as C++17 in the 2.1x releases (ATen/ATen.h: "C++20 or
  # later compatible compiler is required"); 2.12 is the first we build as C++20.
  if(version VERSION_GREATER_EQUAL 2.12)
    set(${out} 20 PARENT_SCOPE)
  else()
    set(${out} 17 PARENT_SCOPE)
  endif()
endfunction()

macro(lorasub_cuda_before_torch)
  set(LORASUB_CUDA_TOOLKIT OFF)
  set(LORASUB_NVTX "none (no CUDA toolkit)")
  if(NOT LORASUB_CUDA STREQUAL "OFF")
    find_package(CUDAToolkit QUIET)
    if(CUDAToolkit_FOUND)
      set(LORASUB_CUDA_TOOLKIT ON)
      # A CUDA LibTorch's CMake calls enable_language(CUDA) and FindCUDA: both must find
      # this toolkit's nvcc even when it is not on PATH (/usr/local/cuda/bin rarely is).
      if(CUDAToolkit_NVCC_EXECUTABLE AND EXISTS "${CUDAToolkit_NVCC_EXECUTABLE}")
        if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
          set(CMAKE_CUDA_COMPILER "${CUDAToolkit_NVCC_EXECUTABLE}" CACHE FILEPATH "nvcc (from the CUDA toolkit)")
        endif()
        if(NOT CUDA_TOOLKIT_ROOT_DIR)
          get_filename_component(_lorasub_cuda_root "${CUDAToolkit_BIN_DIR}" DIRECTORY)
          set(CUDA_TOOLKIT_ROOT_DIR "${_lorasub_cuda_root}" CACHE PATH "CUDA toolkit (for LibTorch's FindCUDA)")
        endif()
      endif()
      # CUDA >= 12.9 ships NVTX 3 only (header-only, CUDA::nvtx3); a LibTorch 2.x up to 2.7
      # links CUDA::nvToolsExt, which then does not exist. Same API, so stand one in.
      if(NOT TARGET CUDA::nvToolsExt AND TARGET CUDA::nvtx3)
        add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
        target_link_libraries(CUDA::nvToolsExt INTERFACE CUDA::nvtx3)
        set(LORASUB_NVTX "CUDA::nvtx3 (standing in for CUDA::nvToolsExt, which CUDA ${CUDAToolkit_VERSION} lacks)")
      elseif(TARGET CUDA::nvToolsExt)
        set(LORASUB_NVTX "CUDA::nvToolsExt")
      else()
        set(LORASUB_NVTX "none")
      endif()
    endif()
  endif()
endmacro()

# _lorasub_first_existing(OUT CANDIDATES...): the first candidate file that exists.
function(_lorasub_first_existing out)
  foreach(c ${ARGN})
    if(EXISTS "${c}" AND NOT IS_DIRECTORY "${c}")
      set(${out} "${c}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# _lorasub_try_nccl(WHAT INCLUDE_DIRS LIB_DIRS): unless NCCL is found already, takes nccl.h
# and libnccl from these directories when both are there.
function(_lorasub_try_nccl what incs libs)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    return()
  endif()
  set(h "")
  foreach(d ${incs})
    if(EXISTS "${d}/nccl.h")
      get_filename_component(h "${d}" ABSOLUTE)
      break()
    endif()
  endforeach()
  set(so "")
  foreach(d ${libs})
    _lorasub_first_existing(so "${d}/libnccl.so" "${d}/libnccl.so.2")
    if(so)
      break()
    endif()
  endforeach()
  if(h AND so)
    get_filename_component(so "${so}" ABSOLUTE)
    set(NCCL_INCLUDE_DIR "${h}" CACHE PATH "directory of nccl.h" FORCE)
    set(NCCL_LIBRARY "${so}" CACHE FILEPATH "libnccl" FORCE)
    set(LORASUB_NCCL_FROM "${what}" CACHE INTERNAL "")
  endif()
endfunction()

# Where a LibTorch keeps the CUDA libraries it was built with: libtorch's own directory
# (a downloaded LibTorch, Debian's) and, for a pip wheel (site-packages/torch/lib), the
# wheels beside it in site-packages/nvidia/<pkg>.
function(_lorasub_torch_cuda_dirs out_site out_lib)
  set(lib "")
  if(TORCH_LIBRARY)
    get_filename_component(lib "${TORCH_LIBRARY}" DIRECTORY)
  elseif(TORCH_INSTALL_PREFIX)
    set(lib "${TORCH_INSTALL_PREFIX}/lib")
  endif()
  set(site "")
  if(lib AND IS_DIRECTORY "${lib}/../../nvidia")
    get_filename_component(site "${lib}/../../nvidia" ABSOLUTE)
  endif()
  set(${out_site} "${site}" PARENT_SCOPE)
  set(${out_lib} "${lib}" PARENT_SCOPE)
endfunction()

macro(lorasub_cuda_after_torch)
  set(LORASUB_HAVE_NCCL OFF)
  if(NOT LORASUB_CUDA STREQUAL "OFF")
    _lorasub_torch_cuda_dirs(_ls_site _ls_lib)
    set(_ls_tk_lib "")
    set(_ls_tk_inc "")
    if(CUDAToolkit_FOUND)
      set(_ls_tk_lib "${CUDAToolkit_LIBRARY_DIR}" "${CUDAToolkit_LIBRARY_DIR}/../lib" "${CUDAToolkit_LIBRARY_ROOT}/lib")
      set(_ls_tk_inc ${CUDAToolkit_INCLUDE_DIRS})
    endif()
    set(_ls_sys_lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib)
    set(_ls_sys_inc /usr/include /usr/local/include)

    # NCCL: header and library from the same place, in this order.
    if(NOT NCCL_LIBRARY OR NOT NCCL_INCLUDE_DIR)
      if(LORASUB_TORCH_CUDA AND _ls_site)
        _lorasub_try_nccl("torch's bundled NCCL" "${_ls_site}/nccl/include" "${_ls_site}/nccl/lib")
        # A wheel without the header: its library (the one torch loads), a header from elsewhere.
        _lorasub_try_nccl("torch's bundled NCCL, nccl.h from the toolkit or system" "${_ls_tk_inc};${_ls_sys_inc}"
                          "${_ls_site}/nccl/lib")
      endif()
      if(LORASUB_TORCH_CUDA AND _ls_lib)
        # lib/ and include/ side by side (a LibTorch zip), or a multiarch lib/<triplet>/.
        _lorasub_try_nccl("the NCCL beside libtorch" "${_ls_lib}/../include;${_ls_lib}/../../include" "${_ls_lib}")
      endif()
      if(CUDAToolkit_FOUND)
        _lorasub_try_nccl("the CUDA toolkit's NCCL" "${_ls_tk_inc}" "${_ls_tk_lib}")
      endif()
      _lorasub_try_nccl("the system's NCCL" "${_ls_sys_inc}" "${_ls_sys_lib}")
    elseif(NOT LORASUB_NCCL_FROM)
      set(LORASUB_NCCL_FROM "NCCL_INCLUDE_DIR/NCCL_LIBRARY as given" CACHE INTERNAL "")
    endif()

    # cudart: the one the CUDA LibTorch loads (a pip wheel's nvidia/cu13 or
    # nvidia/cuda_runtime), else the toolkit's.
    if(NOT LORASUB_CUDART_LIBRARY)
      set(_ls_rt "")
      set(_ls_rt_inc "")
      if(LORASUB_TORCH_CUDA AND _ls_site)
        foreach(_ls_pkg cu13 cuda_runtime)
          file(GLOB _ls_found "${_ls_site}/${_ls_pkg}/lib/libcudart.so*")
          if(_ls_found)
            list(SORT _ls_found)
            list(GET _ls_found 0 _ls_rt)
            set(_ls_rt_inc "${_ls_site}/${_ls_pkg}/include")
            set(LORASUB_CUDART_FROM "torch's bundled cudart" CACHE INTERNAL "")
            break()
          endif()
        endforeach()
      endif()
      if(NOT _ls_rt AND TARGET CUDA::cudart)
        get_target_property(_ls_rt CUDA::cudart IMPORTED_LOCATION)
        set(_ls_rt_inc ${CUDAToolkit_INCLUDE_DIRS})
        set(LORASUB_CUDART_FROM "the CUDA toolkit's cudart" CACHE INTERNAL "")
      endif()
      if(_ls_rt)
        set(LORASUB_CUDART_LIBRARY "${_ls_rt}" CACHE FILEPATH "libcudart the NCCL communicator links")
        set(LORASUB_CUDART_INCLUDE_DIR "${_ls_rt_inc}" CACHE PATH "cuda_runtime.h for the NCCL communicator")
      endif()
    elseif(NOT LORASUB_CUDART_FROM)
      set(LORASUB_CUDART_FROM "LORASUB_CUDART_LIBRARY as given" CACHE INTERNAL "")
    endif()
    if(NOT LORASUB_CUDART_INCLUDE_DIR AND CUDAToolkit_FOUND)
      set(LORASUB_CUDART_INCLUDE_DIR "${CUDAToolkit_INCLUDE_DIRS}" CACHE PATH "cuda_runtime.h for the NCCL communicator")
    endif()

    if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY AND LORASUB_CUDART_LIBRARY AND EXISTS "${LORASUB_CUDART_INCLUDE_DIR}/cuda_runtime.h")
      set(LORASUB_HAVE_NCCL ON)
      if(NOT TARGET lorasub_nccl)
        add_library(lorasub_nccl UNKNOWN IMPORTED)
        add_library(lorasub_cudart UNKNOWN IMPORTED)
      endif()
      set_target_properties(lorasub_nccl PROPERTIES IMPORTED_LOCATION "${NCCL_LIBRARY}"
                            INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
      set_target_properties(lorasub_cudart PROPERTIES IMPORTED_LOCATION "${LORASUB_CUDART_LIBRARY}"
                            INTERFACE_INCLUDE_DIRECTORIES "${LORASUB_CUDART_INCLUDE_DIR}")
      set(_ls_v "")
      file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _ls_defs REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
      foreach(_ls_k MAJOR MINOR PATCH)
        string(REGEX MATCH "NCCL_${_ls_k} +([0-9]+)" _ls_m "${_ls_defs}")
        list(APPEND _ls_v "${CMAKE_MATCH_1}")
      endforeach()
      string(REPLACE ";" "." _ls_v "${_ls_v}")
      message(STATUS "lorasub: NCCL ${_ls_v}: ${NCCL_LIBRARY} (${LORASUB_NCCL_FROM}), nccl.h in ${NCCL_INCLUDE_DIR}")
      message(STATUS "lorasub: cudart: ${LORASUB_CUDART_LIBRARY} (${LORASUB_CUDART_FROM})")
    elseif(LORASUB_CUDA STREQUAL "ON")
      message(FATAL_ERROR "LORASUB_CUDA=ON, but no NCCL and CUDA runtime were found: looked in torch's bundled "
              "libraries (${_ls_site} ${_ls_lib}), the CUDA toolkit (${CUDAToolkit_ROOT}) and the system. "
              "Install NCCL (e.g. pip install nvidia-nccl-cu13, or libnccl-dev) or pass "
              "-DNCCL_INCLUDE_DIR=... -DNCCL_LIBRARY=...")
    endif()
  endif()
endmacro()
