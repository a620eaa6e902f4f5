# Every dependency comes from a Debian 12 package (scripts/install-deps.sh installs them).
find_package(Boost 1.74 REQUIRED)               # libboost-graph-dev: Boost.Graph is header-only
find_package(fmt 9 REQUIRED)                    # libfmt-dev
find_package(nlohmann_json 3.10 REQUIRED)       # nlohmann-json3-dev
find_package(CLI11 REQUIRED)                    # libcli11-dev
find_package(Threads REQUIRED)
find_package(Protobuf 3.12)  # libprotobuf-dev, protobuf-compiler: optional, Chakra traces (sim/io)
if(MOESIM_BUILD_TESTS)
  find_package(GTest REQUIRED)                  # googletest / libgtest-dev
endif()
if(MOESIM_BUILD_BENCH)
  find_package(benchmark REQUIRED)              # libbenchmark-dev
endif()
