import sys

from fastgen.demo import main

sys.exit(main(sys.argv[1:]))
