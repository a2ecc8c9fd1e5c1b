# turbojpeg by its header and library (target lorasub::turbojpeg), not through
# libjpeg-turbo's CMake package: Debian's hard-codes /usr in its target files, so a copy
# unpacked into another prefix (scripts/gpu-check.sh, dpkg -x) would point back to /usr.
include_guard(GLOBAL)
find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h)
find_library(TURBOJPEG_LIBRARY NAMES turbojpeg libturbojpeg.so.0)
if(NOT TURBOJPEG_INCLUDE_DIR OR NOT TURBOJPEG_LIBRARY)
  message(FATAL_ERROR "turbojpeg not found (turbojpeg.h: ${TURBOJPEG_INCLUDE_DIR}, library: ${TURBOJPEG_LIBRARY}): "
          "install libturbojpeg0-dev, or pass -DTURBOJPEG_INCLUDE_DIR=... -DTURBOJPEG_LIBRARY=...")
endif()
if(NOT TARGET lorasub::turbojpeg)
  add_library(lorasub::turbojpeg UNKNOWN IMPORTED GLOBAL)
  set_target_properties(lorasub::turbojpeg PROPERTIES IMPORTED_LOCATION "${TURBOJPEG_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${TURBOJPEG_INCLUDE_DIR}")
endif()
