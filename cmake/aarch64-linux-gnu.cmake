# Cross-compiling for aarch64 Linux with Debian's cross toolchain
# (gcc-aarch64-linux-gnu) and arm64 libraries installed through multiarch
# (libcjson-dev:arm64, libpcre2-dev:arm64). Programs run under qemu-user,
# which CMake and ctest then call for every target they run.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# the arm64 .pc files only, never the build machine's
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
find_program(LADDER_QEMU_AARCH64 qemu-aarch64-static)
if(LADDER_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${LADDER_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
