set title "Server CPU with no client at all\n{/*0.8 Intel(R) Xeon(R) Processor, 2 CPUs, Linux 6.18.44-fc-v1045, 2026-12-02 08:44 UTC}"
set xlabel ""
set ylabel "% of one CPU"
set grid
set key outside right top box opaque
set border 3
set tics nomirror
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid noxtics
set xtics rotate by -30 ("blocking" 0, "spin" 1, "select" 2, "poll" 3, "epoll" 4, "epoll-et" 5, "reactors" 6, "uring" 7, "uring-multishot" 8, "threads" 9, "pool" 10, "fork" 11, "prefork" 12)
set xrange [-0.6:12.6]
set yrange [0:*]
unset key
set yrange [0:117.6]
set terminal pngcairo size 900,520 font 'sans,10'
set output 'cpu-idle.png'
plot 'cpu-idle.dat' index 0 using 1:2 with boxes lc rgb '#000000' title 'blocking', \
     'cpu-idle.dat' index 0 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 1 using 1:2 with boxes lc rgb '#e69f00' title 'spin', \
     'cpu-idle.dat' index 1 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 2 using 1:2 with boxes lc rgb '#56b4e9' title 'select', \
     'cpu-idle.dat' index 2 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 3 using 1:2 with boxes lc rgb '#009e73' title 'poll', \
     'cpu-idle.dat' index 3 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 4 using 1:2 with boxes lc rgb '#0072b2' title 'epoll', \
     'cpu-idle.dat' index 4 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 5 using 1:2 with boxes lc rgb '#0072b2' title 'epoll-et', \
     'cpu-idle.dat' index 5 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 6 using 1:2 with boxes lc rgb '#0072b2' title 'reactors', \
     'cpu-idle.dat' index 6 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 7 using 1:2 with boxes lc rgb '#882255' title 'uring', \
     'cpu-idle.dat' index 7 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 8 using 1:2 with boxes lc rgb '#882255' title 'uring-multishot', \
     'cpu-idle.dat' index 8 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 9 using 1:2 with boxes lc rgb '#d55e00' title 'threads', \
     'cpu-idle.dat' index 9 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 10 using 1:2 with boxes lc rgb '#d55e00' title 'pool', \
     'cpu-idle.dat' index 10 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 11 using 1:2 with boxes lc rgb '#cc79a7' title 'fork', \
     'cpu-idle.dat' index 11 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-idle.dat' index 12 using 1:2 with boxes lc rgb '#cc79a7' title 'prefork', \
     'cpu-idle.dat' index 12 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle
set terminal svg size 900,520 font 'sans,10' dynamic
set output 'cpu-idle.svg'
replot
