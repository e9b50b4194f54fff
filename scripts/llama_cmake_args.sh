# For the optional native build of llama-cpp-python (--backend llama_cpp; the default backend, xllamacpp, is a
# prebuilt wheel and needs none of this): `source scripts/llama_cmake_args.sh && pip install -e '.[llama]'`.
# It builds llama.cpp's C++ core without the parts testbot never uses (examples, tests, tools, the C++ server,
# multimodal), which roughly halves the ~10 min build on 2 cores. scripts/test.sh sources it with
# TESTBOT_TEST_LLAMA_CPP=1.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_MTMD=OFF -DLLAMA_CURL=OFF}"
