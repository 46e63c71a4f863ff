# OpenCL backend: a static library of its own, built only when OpenCL is
# found. The kernels (kernels/*.cl) are embedded as one C string at build
# time by this same file run in script mode (cmake -P), so no tool beyond
# CMake is needed.
if(LD_OCL_EMBED)
  # script mode: concatenate the .cl files (in the given order) into OUT
  set(hex "")
  string(REPLACE "|" ";" LD_OCL_SOURCES "${LD_OCL_SOURCES}")
  foreach(f ${LD_OCL_SOURCES})
    file(READ ${f} part HEX)
    string(APPEND hex "${part}0a")
  endforeach()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" hex "${hex}")
  file(WRITE ${LD_OCL_OUT} "/* generated from src/backends/opencl/kernels */\nconst char ld_ocl_kernel_source[] = {\n${hex}0x00};\n")
  return()
endif()

find_package(OpenCL)
if(OpenCL_FOUND)
  set(LD_OCL_DIR ${CMAKE_CURRENT_LIST_DIR})
  # order matters: common helpers first
  set(LD_OCL_CL ${LD_OCL_DIR}/kernels/common.cl ${LD_OCL_DIR}/kernels/linear.cl
      ${LD_OCL_DIR}/kernels/ops.cl ${LD_OCL_DIR}/kernels/composite.cl)
  set(LD_OCL_GEN ${CMAKE_BINARY_DIR}/ocl_kernels.c)
  string(REPLACE ";" "|" LD_OCL_CL_ARG "${LD_OCL_CL}")
  add_custom_command(OUTPUT ${LD_OCL_GEN}
    COMMAND ${CMAKE_COMMAND} -DLD_OCL_EMBED=1 "-DLD_OCL_SOURCES=${LD_OCL_CL_ARG}" -DLD_OCL_OUT=${LD_OCL_GEN}
            -P ${LD_OCL_DIR}/opencl.cmake
    DEPENDS ${LD_OCL_CL} ${LD_OCL_DIR}/opencl.cmake
    COMMENT "Embedding the OpenCL kernels" VERBATIM)
  file(GLOB LD_OCL_C CONFIGURE_DEPENDS ${LD_OCL_DIR}/*.c)
  # part of the engine library, like every backend; the registry lists it
  # when it is built
  target_sources(ladder_core PRIVATE ${LD_OCL_C} ${LD_OCL_GEN})
  target_link_libraries(ladder_core PUBLIC OpenCL::OpenCL)
  target_compile_definitions(ladder_core PUBLIC LADDER_HAVE_OPENCL=1)
  set(LADDER_OPENCL_BUILT ON)
else()
  message(STATUS "OpenCL not found: the opencl backend is not built")
endif()
