"""Start CoverUp with a local model registered in litellm (run by the coverup venv's python).

CoverUp adds up the cost of every answer with ``litellm.completion_cost``, which raises
``ModelNotMappedError`` for a model litellm has no price for (any local model), and CoverUp then stops at
its first answer. This launcher registers the served model at zero cost and CoverUp's context size, then
runs CoverUp's own ``main()`` unchanged:

    <coverup venv>/bin/python coverup_local.py <served model name> <context tokens> <coverup arguments...>
"""

import sys


def main() -> int:
    name, context = sys.argv[1], int(sys.argv[2])
    import litellm

    info = {
        "max_tokens": context,
        "max_input_tokens": context,
        "max_output_tokens": context,
        "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0,
        "litellm_provider": "openai",
        "mode": "chat",
    }
    litellm.register_model({name: info, f"openai/{name}": info})
    from coverup.coverup import main as coverup_main

    sys.argv = ["coverup", *sys.argv[3:]]
    return coverup_main()


if __name__ == "__main__":
    sys.exit(main())
