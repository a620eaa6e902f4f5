# Strict warnings and optional sanitizers on moesim's own targets only (never on third-party code).
add_library(moesim_warnings INTERFACE)
target_compile_options(moesim_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                            -Woverloaded-virtual -Wimplicit-fallthrough>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${MOESIM_WERROR}>>:-Werror>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
if(MOESIM_SANITIZE)
  target_compile_options(moesim_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${MOESIM_SANITIZE} -fno-omit-frame-pointer>)
  target_link_options(moesim_warnings INTERFACE -fsanitize=${MOESIM_SANITIZE})
endif()

# moesim_add_module(NAME SOURCES ... DEPS ... PRIVATE_DEPS ...)
# One static library per sim/ sub-folder with an explicit source list. DEPS are the only modules it
# may use: a wrong include is a link error, which keeps the dependency direction one-way.
function(moesim_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(moesim_${name} STATIC ${M_SOURCES})
  add_library(moesim::${name} ALIAS moesim_${name})
  target_include_directories(moesim_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(moesim_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS} moesim_warnings)
endfunction()
