/* What Embedded Swift's standard library expects from the full Swift runtime and the agent
 * uses: Double(String) parses through this. The agent never changes its locale, so strtod
 * reads the C locale's format. */
#include <stdlib.h>

const char *_swift_stdlib_strtod_clocale(const char *nptr, double *outResult) {
    char *end = NULL;
    *outResult = strtod(nptr, &end);
    return end;
}
