import sys

from vitrina.cli import main

sys.exit(main())
