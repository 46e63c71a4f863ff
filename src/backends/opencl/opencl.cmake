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
  add_library(ladder_opencl STATIC ${LD_OCL_C} ${LD_OCL_GEN})
  target_include_directories(ladder_opencl PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(ladder_opencl PUBLIC OpenCL::OpenCL m)
  # the test compares against ref's host functions
  set(LD_OCL_TEST_SRC ${CMAKE_SOURCE_DIR}/tests/unit/test_opencl.c)
  if(TARGET ladder_core)
    target_link_libraries(ladder_opencl PUBLIC ladder_core)
  else()
    # standalone: the few core and ref files the backend and its test need
    target_sources(ladder_opencl PRIVATE ${CMAKE_SOURCE_DIR}/src/core/error.c ${CMAKE_SOURCE_DIR}/src/core/numerics.c
      ${CMAKE_SOURCE_DIR}/src/backends/weight.c)
    list(APPEND LD_OCL_TEST_SRC ${CMAKE_SOURCE_DIR}/src/backends/ref/ref_linear.c
      ${CMAKE_SOURCE_DIR}/src/backends/ref/ref_norm_hc.c ${CMAKE_SOURCE_DIR}/src/backends/ref/ref_attn.c)
  endif()
  add_executable(test_opencl ${LD_OCL_TEST_SRC})
  target_link_libraries(test_opencl PRIVATE ladder_opencl)
  add_test(NAME test_opencl COMMAND test_opencl)
  set_tests_properties(test_opencl PROPERTIES SKIP_RETURN_CODE 77)
else()
  message(STATUS "OpenCL not found: the opencl backend is not built")
endif()
