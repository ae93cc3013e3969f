# After ctest: how many test cases were skipped and why (tests/testutil.c
# tu_shared_data appends one line per skip to LOG).
if(EXISTS ${LOG})
  file(STRINGS ${LOG} lines)
  list(LENGTH lines n)
  message("${n} test cases skipped (they need the shared development traces in ../shared/data):")
  foreach(l ${lines})
    message("  ${l}")
  endforeach()
else()
  message("no test cases skipped")
endif()
