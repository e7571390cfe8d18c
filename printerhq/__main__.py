import sys

from printerhq.cli import main

sys.exit(main())
