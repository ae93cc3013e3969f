# `cmake --install build [--prefix DIR]` and `cpack -G DEB` (README.md, "Install").
#
#   bin/vkflow                                   the command line
#   lib/libvkflow.so.X.Y.Z, .so.X, .so, .a       the library, shared and static
#   include/vkflow/...                           public headers, engine/'s layout
#   lib/pkgconfig/vkflow.pc                      pkg-config (Libs.private for static links)
#   lib/cmake/vkflow/                            find_package(vkflow): vkflow::vkflow
#   share/vkflow/models, share/vkflow/examples   side by side: "../models/..." resolves
#   share/man/man1/vkflow.1, man5/vkflow-model.5, man5/vkflow-run.5
#   share/bash-completion/completions/vkflow
include(CMakePackageConfigHelpers)

install(TARGETS vkflow_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vkflow_shared EXPORT vkflowTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS vkflow ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The public API: the core (vkflow.h) and what a program needs to load a
# model, train it and sample from it, plus trace I/O, evaluation and the run
# pipeline. Each header is installed at its path under engine/, so their
# includes ("vkflow.h", "graph/exec.h", "train/trainer.h") resolve with
# -I<prefix>/include/vkflow.
set(VKFLOW_PUBLIC_HEADERS
  vkflow.h model.h
  graph/graph.h graph/exec.h
  trace/record.h trace/trace.h trace/encode.h
  eval/eval.h
  train/trainer.h train/flowmodel.h train/pipeline.h)
foreach(h ${VKFLOW_PUBLIC_HEADERS})
  get_filename_component(dir ${h} DIRECTORY)
  install(FILES ${CMAKE_SOURCE_DIR}/engine/${h} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vkflow/${dir})
endforeach()

# pkg-config: relocatable (prefix from the .pc file's own folder), so an
# install with --prefix works without reconfiguring. The static archives of
# shaderc/glslang/SPIRV-Tools have circular references: a link group.
set(PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
file(RELATIVE_PATH PC_TO_PREFIX /x/${CMAKE_INSTALL_LIBDIR}/pkgconfig /x)
string(REGEX REPLACE "/$" "" PC_TO_PREFIX "${PC_TO_PREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/vkflow.pc.in ${CMAKE_BINARY_DIR}/vkflow.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/vkflow.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package: find_package(vkflow) gives vkflow::vkflow (the shared library).
set(VKFLOW_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkflow)
install(EXPORT vkflowTargets NAMESPACE vkflow:: DESTINATION ${VKFLOW_CMAKEDIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/vkflowConfig.cmake.in
  ${CMAKE_BINARY_DIR}/vkflowConfig.cmake INSTALL_DESTINATION ${VKFLOW_CMAKEDIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vkflowConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/vkflowConfig.cmake ${CMAKE_BINARY_DIR}/vkflowConfigVersion.cmake
  DESTINATION ${VKFLOW_CMAKEDIR})

# Models and example configurations, side by side.
file(GLOB VKFLOW_MODEL_FILES ${CMAKE_SOURCE_DIR}/models/*.cfg ${CMAKE_SOURCE_DIR}/models/*.inc)
install(FILES ${VKFLOW_MODEL_FILES} ${CMAKE_SOURCE_DIR}/models/README.md
  DESTINATION ${CMAKE_INSTALL_DATADIR}/vkflow/models)
file(GLOB VKFLOW_EXAMPLE_FILES ${CMAKE_SOURCE_DIR}/examples/*.cfg)
install(FILES ${VKFLOW_EXAMPLE_FILES} ${CMAKE_SOURCE_DIR}/examples/README.md
  ${CMAKE_SOURCE_DIR}/examples/api_demo.c DESTINATION ${CMAKE_INSTALL_DATADIR}/vkflow/examples)

# Manual pages and bash completion.
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/vkflow.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/docs/man/vkflow-model.5 ${CMAKE_SOURCE_DIR}/docs/man/vkflow-run.5
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${CMAKE_SOURCE_DIR}/tools/vkflow.bash-completion
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME vkflow)

# ---------------------------------------------------------------- cpack -G DEB
# One package with everything above. Depends come from dpkg-shlibdeps over the
# binary and the shared library (the libraries ldd lists, mapped to their
# Debian packages); a Vulkan driver is only recommended: without one vkflow
# runs on its cpu backend.
set(CPACK_PACKAGE_NAME vkflow)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "vkflow developers <vkflow@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "synthetic network traces from a generative model (Vulkan or CPU)")
set(CPACK_PACKAGE_DESCRIPTION "vkflow learns a generative model of a real network trace (pcap/pcapng or\n\
flow CSV) and writes a synthetic trace that keeps its statistics (NetShare's\n\
DoppelGANger), on any Vulkan GPU or on the CPU. This package has the vkflow\n\
command, libvkflow (shared and static) with its headers, pkg-config and CMake\n\
files, the models, example configurations, manual pages and bash completion.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mesa-vulkan-drivers")
set(CPACK_STRIP_FILES OFF)
include(CPack)
