import sys

from maskhub.cli import main

sys.exit(main())
