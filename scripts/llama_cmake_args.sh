# Sourced by the set-up scripts: build llama-cpp-python's C++ core without the parts testbot never uses
# (examples, tests, tools, the C++ server, multimodal), which roughly halves the ~10 min build on 2 cores.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_MTMD=OFF -DLLAMA_CURL=OFF}"
