/* Comparators for qsort and bsearch, shared by the helper's files. */
#ifndef UCR_CMP_H
#define UCR_CMP_H

/* ints, ascending (no overflow for any two) */
static inline int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

#endif
