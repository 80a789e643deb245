"""``python -m codehotfix.cli``: the ``codehotfix`` command as a module, for launchers that run modules.

    accelerate launch --config_file configs/accelerate/ddp.yaml -m codehotfix.cli train CASES --out DIR
"""

from codehotfix.cli import main

if __name__ == "__main__":
    main()
